# Input checks that span two variables. A precondition fails `terraform plan`,
# so nothing is created when one of them is false.
#
# This file and variables.tf use nothing but Terraform itself, so check.sh can
# plan them alone, offline, to prove that 0.0.0.0/0 is refused.

locals {
  # allowed_cidr is already a valid IPv4 CIDR (see its validation); a prefix
  # length of 0 means "every address", whatever the address part says.
  allowed_cidr_is_any = tonumber(split("/", var.allowed_cidr)[1]) == 0
}

resource "terraform_data" "input_guard" {
  input = {
    allowed_cidr     = var.allowed_cidr
    allow_any_source = var.allow_any_source
  }

  lifecycle {
    precondition {
      condition     = !local.allowed_cidr_is_any || var.allow_any_source
      error_message = "allowed_cidr = \"${var.allowed_cidr}\" would open SSH and RDP on the master to the whole internet. Give your own address as a /32 (README.md shows how to find it), or set allow_any_source = true if you really mean it."
    }
  }
}
