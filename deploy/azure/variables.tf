# Inputs of the imgproc Azure cluster. Only `allowed_cidr`, `admin_ssh_public_key`
# and `imgproc_repo_url` have no default: they are the user's to give.
#
# Checks that involve two variables (refusing 0.0.0.0/0 unless
# `allow_any_source` is set) live in guards.tf, because a variable's own
# validation may only look at that variable before Terraform 1.9.

variable "location" {
  description = "Azure region for every resource, e.g. eastus or westeurope."
  type        = string
  default     = "eastus"
}

variable "name_prefix" {
  description = "Prefix of every resource name (lowercase letters, digits, dashes)."
  type        = string
  default     = "imgproc"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,14}$", var.name_prefix))
    error_message = "name_prefix must be 2-15 characters: a lowercase letter, then lowercase letters, digits or dashes."
  }
}

variable "vm_size" {
  description = "VM size of the master and of every worker. The default has 2 vCPUs and supports accelerated networking."
  type        = string
  default     = "Standard_D2s_v5"
}

variable "slots_per_node" {
  description = "MPI slots written for each node in the hostfile; match the vCPU count of vm_size (2 for Standard_D2s_v5)."
  type        = number
  default     = 2

  validation {
    condition     = var.slots_per_node >= 1 && floor(var.slots_per_node) == var.slots_per_node
    error_message = "slots_per_node must be a whole number of at least 1."
  }
}

variable "worker_count" {
  description = "Number of worker VMs (no public IP). 0 gives a master-only cluster."
  type        = number
  default     = 2

  validation {
    condition     = var.worker_count >= 0 && var.worker_count <= 50 && floor(var.worker_count) == var.worker_count
    error_message = "worker_count must be a whole number from 0 to 50."
  }
}

variable "accelerated_networking" {
  description = "Enable accelerated networking on every NIC. The default size (Standard_D2s_v5) supports it; set false for sizes that do not (for example the B series), or the VMs fail to start."
  type        = bool
  default     = true
}

variable "admin_username" {
  description = "Login user on every VM; also the user that runs mpirun and the RDP desktop."
  type        = string
  default     = "azureuser"

  validation {
    condition = (
      can(regex("^[a-z_][a-z0-9_-]{0,31}$", var.admin_username)) &&
      !contains(["root", "admin", "administrator", "user", "guest", "test", "sys", "adm", "daemon", "nobody", "xrdp"], var.admin_username)
    )
    error_message = "admin_username must be a lowercase Linux user name and not a reserved one (root, admin, administrator, user, guest, test, ...)."
  }
}

variable "admin_ssh_public_key" {
  description = "Your SSH public key (the text of ~/.ssh/id_ed25519.pub or an RSA key of 2048 bits or more). Password login is disabled everywhere."
  type        = string

  validation {
    condition     = can(regex("^(ssh-ed25519|ssh-rsa) [A-Za-z0-9+/=]+( .*)?$", trimspace(var.admin_ssh_public_key)))
    error_message = "admin_ssh_public_key must be one OpenSSH public key line starting with ssh-ed25519 or ssh-rsa."
  }
}

variable "allowed_cidr" {
  description = "The only IPv4 network allowed to reach SSH (22) and RDP (3389) on the master, e.g. \"203.0.113.7/32\" for one address. 0.0.0.0/0 is refused unless allow_any_source = true."
  type        = string

  validation {
    condition     = can(cidrnetmask(var.allowed_cidr)) && can(cidrsubnet(var.allowed_cidr, 0, 0))
    error_message = "allowed_cidr must be an IPv4 CIDR such as 203.0.113.7/32 (a bare address, a name or \"*\" is not accepted)."
  }

  validation {
    condition     = !can(cidrsubnet(var.allowed_cidr, 0, 0)) || try(cidrsubnet(var.allowed_cidr, 0, 0) == var.allowed_cidr, false)
    error_message = "allowed_cidr must be written with its network address, e.g. 203.0.113.0/24 rather than 203.0.113.7/24."
  }
}

variable "allow_any_source" {
  description = "Explicit override that lets allowed_cidr be a /0 (the whole internet). Leave false."
  type        = bool
  default     = false
}

variable "expose_rdp" {
  description = "Open 3389 on the master to allowed_cidr. With false, reach RDP only through an SSH tunnel (README.md)."
  type        = bool
  default     = true
}

variable "expose_web" {
  description = "Open 443 on the master to allowed_cidr, for imgproc serve behind a TLS reverse proxy there (README.md, Web service)."
  type        = bool
  default     = false
}

variable "vnet_cidr" {
  description = "Address space of the virtual network; the cluster subnet is the second /24 inside it."
  type        = string
  default     = "10.42.0.0/16"

  validation {
    condition = (
      can(cidrnetmask(var.vnet_cidr)) &&
      try(tonumber(split("/", var.vnet_cidr)[1]) <= 23 && tonumber(split("/", var.vnet_cidr)[1]) >= 8, false)
    )
    error_message = "vnet_cidr must be an IPv4 CIDR from /8 to /23, e.g. 10.42.0.0/16."
  }
}

variable "os_image" {
  description = "Marketplace image of every VM. Debian 12 matches the project's development and CI machines; pin `version` for a reproducible build (README.md)."
  type = object({
    publisher = string
    offer     = string
    sku       = string
    version   = string
  })
  default = {
    publisher = "Debian"
    offer     = "debian-12"
    sku       = "12-gen2"
    version   = "latest"
  }
}

variable "os_disk_type" {
  description = "Managed disk type of the OS disks (Premium_LRS needs an 's' size such as D2s_v5)."
  type        = string
  default     = "Premium_LRS"

  validation {
    condition     = contains(["Standard_LRS", "StandardSSD_LRS", "Premium_LRS"], var.os_disk_type)
    error_message = "os_disk_type must be Standard_LRS, StandardSSD_LRS or Premium_LRS."
  }
}

variable "master_disk_size_gb" {
  description = "OS disk of the master, which also holds /shared (the NFS share) and the Rust build."
  type        = number
  default     = 64

  validation {
    condition     = var.master_disk_size_gb >= 32
    error_message = "master_disk_size_gb must be at least 32: the desktop, the Rust build and /shared live there."
  }
}

variable "worker_disk_size_gb" {
  description = "OS disk of each worker."
  type        = number
  default     = 30

  validation {
    condition     = var.worker_disk_size_gb >= 30
    error_message = "worker_disk_size_gb must be at least 30 (the size of the Debian image)."
  }
}

variable "imgproc_repo_url" {
  description = "HTTPS URL of the imgproc git repository; the master clones it into /shared/imgproc without credentials, so it must be readable anonymously."
  type        = string

  # Plain characters only: the URL is written into a shell script on the master.
  validation {
    condition     = can(regex("^https://[A-Za-z0-9._~:/%+-]+$", var.imgproc_repo_url))
    error_message = "imgproc_repo_url must be an https:// URL made of letters, digits and . _ ~ : / % + - (no credentials, no query string)."
  }
}

variable "imgproc_ref" {
  description = "Branch or tag of imgproc to check out."
  type        = string
  default     = "main"

  validation {
    condition     = can(regex("^[A-Za-z0-9._/-]+$", var.imgproc_ref))
    error_message = "imgproc_ref must be a branch or tag name (letters, digits, . _ / -)."
  }
}

variable "worker_packages" {
  description = "Debian packages installed on workers: what target/release/imgproc needs at run time (MPI, the OpenCV modules it links, GTK for its file dialogs). Keep in step with Cargo.toml."
  type        = list(string)
  default = [
    "openmpi-bin",
    "libopencv-core406",
    "libopencv-imgproc406",
    "libopencv-imgcodecs406",
    "libgtk-3-0",
  ]

  validation {
    condition     = alltrue([for p in var.worker_packages : can(regex("^[a-z0-9][a-z0-9.+-]+$", p))])
    error_message = "worker_packages must be Debian package names."
  }
}

variable "tags" {
  description = "Tags put on every resource."
  type        = map(string)
  default = {
    project = "imgproc"
  }
}
