# Terraform and provider versions for the imgproc Azure cluster.
#
# azurerm 4.x spells some arguments differently from 3.x (for example
# `accelerated_networking_enabled` on a NIC, where 3.x had
# `enable_accelerated_networking`); this configuration is written for 4.x only.

terraform {
  required_version = ">= 1.5"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.40"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "~> 4.0"
    }
    local = {
      source  = "hashicorp/local"
      version = "~> 2.5"
    }
  }
}

# azurerm 4.x needs a subscription id: set ARM_SUBSCRIPTION_ID in the
# environment (README.md shows how) rather than writing it into a file here.
provider "azurerm" {
  features {}
}
