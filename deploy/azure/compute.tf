# The nodes: one master (rank 0, the GUI, the NFS server; the only public IP)
# and var.worker_count workers, all in one proximity placement group so MPI
# messages cross as little of the datacenter as possible.
#
# Keys made here, all ed25519, all kept in the Terraform state (README.md says
# how to protect it):
#   - the cluster key: the master's user ssh-es to the workers with it for
#     mpirun. Only the master holds its private half; every node authorises it.
#   - one SSH host key per node, so known_hosts is written before the first
#     connection and no node has to trust a host key on first use.

resource "tls_private_key" "cluster" {
  algorithm = "ED25519"
}

resource "tls_private_key" "master_host" {
  algorithm = "ED25519"
}

resource "tls_private_key" "worker_host" {
  count     = var.worker_count
  algorithm = "ED25519"
}

locals {
  # Rank 0 runs where mpirun starts, on the master, and takes the first slot of
  # the first line: the master comes first so the GUI lands on the machine
  # with the desktop. Its other slots run workers like any node.
  hostfile = join("", [
    for ip in concat([local.master_private_ip], local.worker_private_ips) : "${ip} slots=${var.slots_per_node}\n"
  ])

  known_hosts = join("", concat(
    ["${local.master_private_ip} ${trimspace(tls_private_key.master_host.public_key_openssh)}\n"],
    [for i, ip in local.worker_private_ips : "${ip} ${trimspace(tls_private_key.worker_host[i].public_key_openssh)}\n"],
  ))

  # The subnet is a /24 (network.tf), so "a.b.c.*" matches exactly its hosts.
  ssh_host_pattern = "${join(".", slice(split(".", local.subnet_cidr), 0, 3))}.*"

  cluster_public_key = trimspace(tls_private_key.cluster.public_key_openssh)

  # Values of the ${...} names in cloud-init/master.yaml.tftpl; check.sh
  # renders the template with dummy values for exactly these names.
  master_cloud_init_vars = {
    admin_username      = var.admin_username
    cluster_private_key = tls_private_key.cluster.private_key_openssh
    cluster_public_key  = local.cluster_public_key
    host_private_key    = tls_private_key.master_host.private_key_openssh
    host_public_key     = trimspace(tls_private_key.master_host.public_key_openssh)
    known_hosts         = local.known_hosts
    ssh_host_pattern    = local.ssh_host_pattern
    subnet_cidr         = local.subnet_cidr
    hostfile            = local.hostfile
    imgproc_repo_url    = var.imgproc_repo_url
    imgproc_ref         = var.imgproc_ref
  }

  # Values of the ${...} names in cloud-init/worker.yaml.tftpl, one map per worker.
  worker_cloud_init_vars = [
    for i in range(var.worker_count) : {
      admin_username     = var.admin_username
      cluster_public_key = local.cluster_public_key
      host_private_key   = tls_private_key.worker_host[i].private_key_openssh
      host_public_key    = trimspace(tls_private_key.worker_host[i].public_key_openssh)
      master_ip          = local.master_private_ip
      subnet_cidr        = local.subnet_cidr
      packages           = concat(["nfs-common", "unattended-upgrades"], var.worker_packages)
    }
  ]
}

resource "azurerm_proximity_placement_group" "this" {
  name                = "${var.name_prefix}-ppg"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  tags                = var.tags
}

# --- Master

resource "azurerm_public_ip" "master" {
  name                = "${var.name_prefix}-master-ip"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  allocation_method   = "Static"
  sku                 = "Standard"
  tags                = var.tags
}

resource "azurerm_network_interface" "master" {
  #checkov:skip=CKV_AZURE_119:The master is the cluster's single entry point for SSH and RDP; the subnet NSG admits only allowed_cidr, only on 22 and 3389, only to this address. Workers have no public IP.
  name                           = "${var.name_prefix}-master-nic"
  location                       = azurerm_resource_group.this.location
  resource_group_name            = azurerm_resource_group.this.name
  accelerated_networking_enabled = var.accelerated_networking
  tags                           = var.tags

  ip_configuration {
    name                          = "primary"
    subnet_id                     = azurerm_subnet.cluster.id
    private_ip_address_allocation = "Static"
    private_ip_address            = local.master_private_ip
    public_ip_address_id          = azurerm_public_ip.master.id
  }
}

resource "azurerm_linux_virtual_machine" "master" {
  name                         = "${var.name_prefix}-master"
  computer_name                = "${var.name_prefix}-master"
  location                     = azurerm_resource_group.this.location
  resource_group_name          = azurerm_resource_group.this.name
  size                         = var.vm_size
  proximity_placement_group_id = azurerm_proximity_placement_group.this.id
  network_interface_ids        = [azurerm_network_interface.master.id]
  tags                         = var.tags

  admin_username                  = var.admin_username
  disable_password_authentication = true
  admin_ssh_key {
    username   = var.admin_username
    public_key = trimspace(var.admin_ssh_public_key)
  }

  # cloud-init does all the set-up; no VM extension is needed or allowed.
  allow_extension_operations = false
  custom_data                = base64encode(templatefile("${path.module}/cloud-init/master.yaml.tftpl", local.master_cloud_init_vars))

  # No boot_diagnostics on the master: with a public IP, it would open the
  # serial console once a password is set for RDP (checkov CKV2_AZURE_39).

  os_disk {
    name                 = "${var.name_prefix}-master-os"
    caching              = "ReadWrite"
    storage_account_type = var.os_disk_type
    disk_size_gb         = var.master_disk_size_gb
  }

  source_image_reference {
    publisher = var.os_image.publisher
    offer     = var.os_image.offer
    sku       = var.os_image.sku
    version   = var.os_image.version
  }

  lifecycle {
    # custom_data only runs at first boot, and it holds the hostfile: without
    # this, adding a worker would rebuild the master and lose /shared.
    # README.md ("Adding workers") says how to update the master instead.
    ignore_changes = [custom_data]
  }

  # Outbound (NAT) and the NSG must be in place before cloud-init runs.
  depends_on = [
    azurerm_subnet_nat_gateway_association.cluster,
    azurerm_nat_gateway_public_ip_association.this,
    azurerm_subnet_network_security_group_association.cluster,
  ]
}

# --- Workers

resource "azurerm_network_interface" "worker" {
  count = var.worker_count

  name                           = "${var.name_prefix}-worker-${count.index}-nic"
  location                       = azurerm_resource_group.this.location
  resource_group_name            = azurerm_resource_group.this.name
  accelerated_networking_enabled = var.accelerated_networking
  tags                           = var.tags

  ip_configuration {
    name                          = "primary"
    subnet_id                     = azurerm_subnet.cluster.id
    private_ip_address_allocation = "Static"
    private_ip_address            = local.worker_private_ips[count.index]
  }
}

resource "azurerm_linux_virtual_machine" "worker" {
  count = var.worker_count

  name                         = "${var.name_prefix}-worker-${count.index}"
  computer_name                = "${var.name_prefix}-worker-${count.index}"
  location                     = azurerm_resource_group.this.location
  resource_group_name          = azurerm_resource_group.this.name
  size                         = var.vm_size
  proximity_placement_group_id = azurerm_proximity_placement_group.this.id
  network_interface_ids        = [azurerm_network_interface.worker[count.index].id]
  tags                         = var.tags

  admin_username                  = var.admin_username
  disable_password_authentication = true
  admin_ssh_key {
    username   = var.admin_username
    public_key = trimspace(var.admin_ssh_public_key)
  }

  allow_extension_operations = false
  custom_data                = base64encode(templatefile("${path.module}/cloud-init/worker.yaml.tftpl", local.worker_cloud_init_vars[count.index]))

  # Workers have no public IP; the boot log (Azure portal, `az vm
  # boot-diagnostics get-boot-log`) is the way to see why one did not come up.
  boot_diagnostics {}

  os_disk {
    name                 = "${var.name_prefix}-worker-${count.index}-os"
    caching              = "ReadWrite"
    storage_account_type = var.os_disk_type
    disk_size_gb         = var.worker_disk_size_gb
  }

  source_image_reference {
    publisher = var.os_image.publisher
    offer     = var.os_image.offer
    sku       = var.os_image.sku
    version   = var.os_image.version
  }

  depends_on = [
    azurerm_subnet_nat_gateway_association.cluster,
    azurerm_nat_gateway_public_ip_association.this,
    azurerm_subnet_network_security_group_association.cluster,
  ]
}
