# What a user needs after `terraform apply`. No private key is an output; they
# stay in the state only.

output "master_public_ip" {
  description = "Public address of the master: SSH and RDP, from allowed_cidr only."
  value       = azurerm_public_ip.master.ip_address
}

output "master_private_ip" {
  description = "Address of the master inside the virtual network (rank 0, NFS server)."
  value       = local.master_private_ip
}

output "worker_private_ips" {
  description = "Addresses of the workers inside the virtual network; they have no public IP."
  value       = local.worker_private_ips
}

output "hostfile" {
  description = "Open MPI hostfile, master first (rank 0 and the GUI run there), then the workers. cloud-init writes it to /shared/imgproc/hostfile."
  value       = local.hostfile
}

output "master_known_hosts_line" {
  description = "The master's SSH host key as a known_hosts line for its public address: add it to ~/.ssh/known_hosts before the first connection."
  value       = "${azurerm_public_ip.master.ip_address} ${trimspace(tls_private_key.master_host.public_key_openssh)}"
}

output "cluster_known_hosts" {
  description = "known_hosts of every node's private address, as written to ~/.ssh/known_hosts_imgproc on the master."
  value       = local.known_hosts
}

output "ssh_command" {
  description = "Log in to the master."
  value       = "ssh ${var.admin_username}@${azurerm_public_ip.master.ip_address}"
}

output "rdp_tunnel_command" {
  description = "Forward local port 13389 to the master's xrdp over SSH, then point the RDP client at localhost:13389."
  value       = "ssh -N -L 13389:localhost:3389 ${var.admin_username}@${azurerm_public_ip.master.ip_address}"
}

# A copy of the hostfile beside this configuration (out/ is ignored by git).
resource "local_file" "hostfile" {
  content         = local.hostfile
  filename        = "${path.module}/out/hostfile"
  file_permission = "0644"
}
