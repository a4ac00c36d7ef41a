# The network: one resource group, one virtual network with one /24 subnet for
# every node, a NAT gateway for outbound traffic (apt, git, cargo) and a network
# security group on the subnet.
#
# Inbound from the internet: SSH (22) and, if expose_rdp, RDP (3389), to the
# master's address only, from allowed_cidr only. Inside the subnet every port is
# open (MPI picks ports at random; NFS). Everything else inbound is denied by an
# explicit last rule, which also overrides Azure's broader default
# AllowVnetInBound.

locals {
  subnet_cidr = cidrsubnet(var.vnet_cidr, 24 - tonumber(split("/", var.vnet_cidr)[1]), 1)

  # Static addresses: the hostfile, known_hosts and the NFS mount are known at
  # plan time and do not move when a node is rebuilt. Azure keeps .0 to .3.
  master_private_ip  = cidrhost(local.subnet_cidr, 4)
  worker_private_ips = [for i in range(var.worker_count) : cidrhost(local.subnet_cidr, 10 + i)]
}

resource "azurerm_resource_group" "this" {
  name     = "${var.name_prefix}-rg"
  location = var.location
  tags     = var.tags
}

resource "azurerm_virtual_network" "this" {
  name                = "${var.name_prefix}-vnet"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  address_space       = [var.vnet_cidr]
  tags                = var.tags
}

resource "azurerm_subnet" "cluster" {
  name                 = "${var.name_prefix}-cluster"
  resource_group_name  = azurerm_resource_group.this.name
  virtual_network_name = azurerm_virtual_network.this.name
  address_prefixes     = [local.subnet_cidr]

  # Outbound goes through the NAT gateway below, not through Azure's implicit
  # default outbound access, which Azure is retiring.
  default_outbound_access_enabled = false
}

# --- Outbound: a NAT gateway, so workers without a public IP can still reach
# Debian's mirrors. It admits no inbound connection.

resource "azurerm_public_ip" "nat" {
  name                = "${var.name_prefix}-nat-ip"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  allocation_method   = "Static"
  sku                 = "Standard"
  tags                = var.tags
}

resource "azurerm_nat_gateway" "this" {
  name                    = "${var.name_prefix}-nat"
  location                = azurerm_resource_group.this.location
  resource_group_name     = azurerm_resource_group.this.name
  sku_name                = "Standard"
  idle_timeout_in_minutes = 10
  tags                    = var.tags
}

resource "azurerm_nat_gateway_public_ip_association" "this" {
  nat_gateway_id       = azurerm_nat_gateway.this.id
  public_ip_address_id = azurerm_public_ip.nat.id
}

resource "azurerm_subnet_nat_gateway_association" "cluster" {
  subnet_id      = azurerm_subnet.cluster.id
  nat_gateway_id = azurerm_nat_gateway.this.id
}

# --- Inbound: the network security group of the subnet.

resource "azurerm_network_security_group" "cluster" {
  name                = "${var.name_prefix}-nsg"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  tags                = var.tags
}

resource "azurerm_network_security_rule" "ssh_to_master" {
  name                        = "ssh-from-allowed-cidr-to-master"
  priority                    = 100
  direction                   = "Inbound"
  access                      = "Allow"
  protocol                    = "Tcp"
  source_port_range           = "*"
  destination_port_range      = "22"
  source_address_prefix       = var.allowed_cidr
  destination_address_prefix  = local.master_private_ip
  resource_group_name         = azurerm_resource_group.this.name
  network_security_group_name = azurerm_network_security_group.cluster.name

  depends_on = [terraform_data.input_guard]
}

resource "azurerm_network_security_rule" "rdp_to_master" {
  count = var.expose_rdp ? 1 : 0

  name                        = "rdp-from-allowed-cidr-to-master"
  priority                    = 110
  direction                   = "Inbound"
  access                      = "Allow"
  protocol                    = "Tcp"
  source_port_range           = "*"
  destination_port_range      = "3389"
  source_address_prefix       = var.allowed_cidr
  destination_address_prefix  = local.master_private_ip
  resource_group_name         = azurerm_resource_group.this.name
  network_security_group_name = azurerm_network_security_group.cluster.name

  depends_on = [terraform_data.input_guard]
}

# The web service (`imgproc serve` behind a TLS reverse proxy on the master, README.md "Web
# service"): HTTPS from allowed_cidr only, to the master only, when expose_web.
resource "azurerm_network_security_rule" "https_to_master" {
  count = var.expose_web ? 1 : 0

  name                        = "https-from-allowed-cidr-to-master"
  priority                    = 120
  direction                   = "Inbound"
  access                      = "Allow"
  protocol                    = "Tcp"
  source_port_range           = "*"
  destination_port_range      = "443"
  source_address_prefix       = var.allowed_cidr
  destination_address_prefix  = local.master_private_ip
  resource_group_name         = azurerm_resource_group.this.name
  network_security_group_name = azurerm_network_security_group.cluster.name

  depends_on = [terraform_data.input_guard]
}

resource "azurerm_network_security_rule" "intra_subnet" {
  name                        = "cluster-nodes-to-each-other"
  priority                    = 200
  direction                   = "Inbound"
  access                      = "Allow"
  protocol                    = "*"
  source_port_range           = "*"
  destination_port_range      = "*"
  source_address_prefix       = local.subnet_cidr
  destination_address_prefix  = local.subnet_cidr
  resource_group_name         = azurerm_resource_group.this.name
  network_security_group_name = azurerm_network_security_group.cluster.name
}

resource "azurerm_network_security_rule" "deny_other_inbound" {
  name                        = "deny-all-other-inbound"
  priority                    = 4096
  direction                   = "Inbound"
  access                      = "Deny"
  protocol                    = "*"
  source_port_range           = "*"
  destination_port_range      = "*"
  source_address_prefix       = "*"
  destination_address_prefix  = "*"
  resource_group_name         = azurerm_resource_group.this.name
  network_security_group_name = azurerm_network_security_group.cluster.name
}

resource "azurerm_subnet_network_security_group_association" "cluster" {
  subnet_id                 = azurerm_subnet.cluster.id
  network_security_group_id = azurerm_network_security_group.cluster.id
}
