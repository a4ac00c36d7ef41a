#!/usr/bin/env bash
# Offline checks of deploy/azure: no cloud account, no Terraform providers, no
# network but the package registries. CI runs it as `bash deploy/azure/check.sh`.
#
#   - every .tf file parses (python-hcl2)
#   - the cloud-init templates use exactly the names compute.tf gives them
#   - checkov finds nothing (framework terraform; skips are in the .tf files,
#     each with its reason)
#   - each cloud-init template, rendered with dummy values, passes
#     `cloud-init schema`
#   - shellcheck passes on every script here and on the scripts embedded in
#     the cloud-init templates
#   - where a terraform binary is installed: `terraform fmt -check`, and a plan
#     of variables.tf + guards.tf proves that 0.0.0.0/0 is refused
#
# It installs what it needs, once: Debian's shellcheck and cloud-init, and two
# Python venvs under $IMGPROC_DEPLOY_VENV (default /opt/imgproc-deploy-venv),
# one for python-hcl2 and one for checkov, because checkov depends on a fork
# of python-hcl2 that installs the same module name.
#
# Exit status: 0 when every check passed, 1 when one failed, 2 when the tools
# could not be installed. The last line reads "deploy-checks: N passed, N failed".

set -euo pipefail

readonly CHECKOV_VERSION=3.3.30
readonly PYTHON_HCL2_VERSION=8.1.4

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv_root=${IMGPROC_DEPLOY_VENV:-/opt/imgproc-deploy-venv}
helper=$here/tools/deploy_checks.py
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
skipped=0

# run_check NAME COMMAND...: run quietly, show the output only on failure.
run_check() {
  local name=$1
  shift
  if "$@" >"$work/check.log" 2>&1; then
    passed=$((passed + 1))
    echo "ok    $name"
  else
    failed=$((failed + 1))
    echo "FAIL  $name"
    sed 's/^/      /' "$work/check.log"
  fi
}

skip_check() {
  skipped=$((skipped + 1))
  echo "skip  $1"
}

die() {
  echo "deploy/azure/check.sh: $*" >&2
  exit 2
}

# show_and_fail FILE: a check that failed before it could run.
show_and_fail() {
  cat "$1"
  return 1
}

# --- Tools ------------------------------------------------------------------

install_debian_packages() {
  local missing=()
  command -v shellcheck >/dev/null || missing+=(shellcheck)
  command -v ssh-keygen >/dev/null || missing+=(openssh-client)
  local new_cloud_init=false
  if ! command -v cloud-init >/dev/null; then
    missing+=(cloud-init)
    new_cloud_init=true
  fi
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi

  echo "installing Debian packages: ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq >/dev/null ||
    die "apt-get update failed"
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$work/apt.log" 2>&1 ||
    { cat "$work/apt.log" >&2; die "apt-get install ${missing[*]} failed"; }
  # cloud-init is here only for its schema check: keep it from acting on this
  # machine at the next boot.
  if $new_cloud_init; then
    "${sudo_cmd[@]}" touch /etc/cloud/cloud-init.disabled
  fi
}

# ensure_venv DIR REQUIREMENT: a venv at DIR with REQUIREMENT installed, once.
ensure_venv() {
  local dir=$1 requirement=$2
  if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.imgproc-requirement" 2>/dev/null)" = "$requirement" ]; then
    return 0
  fi
  echo "installing $requirement into $dir"
  "${sudo_cmd[@]}" rm -rf "$dir"
  "${sudo_cmd[@]}" mkdir -p "$dir"
  "${sudo_cmd[@]}" chown "$(id -u):$(id -g)" "$dir"
  if ! python3 -m venv "$dir" >/dev/null 2>&1; then
    # Debian's own python needs python3-venv for this.
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends python3-venv >/dev/null 2>&1 ||
      die "cannot install python3-venv"
    /usr/bin/python3 -m venv "$dir" || die "cannot create a venv in $dir"
  fi
  "$dir/bin/python" -m pip install -q --disable-pip-version-check "$requirement" >"$work/pip.log" 2>&1 ||
    { cat "$work/pip.log" >&2; die "pip install $requirement failed"; }
  echo "$requirement" >"$dir/.imgproc-requirement"
}

install_debian_packages
ensure_venv "$venv_root/hcl2" "python-hcl2==$PYTHON_HCL2_VERSION"
ensure_venv "$venv_root/checkov" "checkov==$CHECKOV_VERSION"
hcl_python=$venv_root/hcl2/bin/python
checkov=$venv_root/checkov/bin/checkov
# Debian's python3 has yaml (a dependency of cloud-init).
yaml_python=/usr/bin/python3

cd "$here"

# --- Terraform files parse ----------------------------------------------------

tf_files=()
while IFS= read -r -d '' file; do
  tf_files+=("$file")
done < <(find . -path ./.terraform -prune -o -name '*.tf' -print0 | sort -z)
[ ${#tf_files[@]} -gt 0 ] || die "no .tf file in $here"

for file in "${tf_files[@]}" ./terraform.tfvars.example; do
  run_check "python-hcl2 parses ${file#./}" "$hcl_python" "$helper" parse-hcl "$file"
done

# --- cloud-init templates -----------------------------------------------------

run_check "master template uses exactly local.master_cloud_init_vars" \
  "$hcl_python" "$helper" template-vars compute.tf master_cloud_init_vars cloud-init/master.yaml.tftpl
run_check "worker template uses exactly local.worker_cloud_init_vars" \
  "$hcl_python" "$helper" template-vars compute.tf worker_cloud_init_vars cloud-init/worker.yaml.tftpl

# Dummy values: real ed25519 keys (the shape Terraform's tls_private_key gives),
# made-up addresses.
ssh-keygen -q -t ed25519 -N '' -C '' -f "$work/cluster_key"
ssh-keygen -q -t ed25519 -N '' -C '' -f "$work/host_key"
"$yaml_python" - "$work" <<'PY'
import json, sys
from pathlib import Path

work = Path(sys.argv[1])
cluster_private = (work / "cluster_key").read_text()
cluster_public = (work / "cluster_key.pub").read_text().strip()
host_private = (work / "host_key").read_text()
host_public = (work / "host_key.pub").read_text().strip()
master = {
    "admin_username": "azureuser",
    "cluster_private_key": cluster_private,
    "cluster_public_key": cluster_public,
    "host_private_key": host_private,
    "host_public_key": host_public,
    "known_hosts": f"10.42.1.4 {host_public}\n10.42.1.10 {host_public}\n",
    "ssh_host_pattern": "10.42.1.*",
    "subnet_cidr": "10.42.1.0/24",
    "hostfile": "10.42.1.4 slots=2\n10.42.1.10 slots=2\n",
    "imgproc_repo_url": "https://example.invalid/imgproc.git",
    "imgproc_ref": "main",
}
worker = {
    "admin_username": "azureuser",
    "cluster_public_key": cluster_public,
    "host_private_key": host_private,
    "host_public_key": host_public,
    "master_ip": "10.42.1.4",
    "subnet_cidr": "10.42.1.0/24",
    "packages": ["nfs-common", "unattended-upgrades", "openmpi-bin", "libopencv-core406"],
}
(work / "master.json").write_text(json.dumps(master))
(work / "worker.json").write_text(json.dumps(worker))
PY

cloud_init_version=$(cloud-init --version 2>&1 | awk '{print $NF}')
cloud_init_schema=$("$yaml_python" -c 'import cloudinit.config.schema as s; print(s.get_schema_dir())')/schema-cloud-config-v1.json
[ -f "$cloud_init_schema" ] || die "cloud-init's schema is not at $cloud_init_schema"

for role in master worker; do
  template=cloud-init/$role.yaml.tftpl
  rendered=$work/$role.yaml
  run_check "$template renders with dummy values" \
    "$yaml_python" "$helper" render "$template" "$work/$role.json" "$rendered"
  if [ -s "$rendered" ]; then
    run_check "$template passes cloud-init schema ($cloud_init_version)" \
      cloud-init schema --config-file "$rendered"
    run_check "$template has only top-level keys cloud-init knows" \
      "$yaml_python" "$helper" known-keys "$rendered" "$cloud_init_schema"
    mkdir -p "$work/scripts-$role"
    if "$yaml_python" "$helper" extract-scripts "$rendered" "$work/scripts-$role" >"$work/extract.log" 2>&1; then
      while IFS= read -r script; do
        run_check "shellcheck $template: $(basename "$script")" shellcheck -s bash "$script"
      done <"$work/extract.log"
    else
      run_check "$template has scripts to shellcheck" show_and_fail "$work/extract.log"
    fi
  else
    skip_check "cloud-init schema and shellcheck of $template (did not render)"
  fi
done

# --- Shell scripts ------------------------------------------------------------

while IFS= read -r -d '' script; do
  run_check "shellcheck ${script#./}" shellcheck "$script"
done < <(find . \( -path ./.terraform -o -path ./.venv \) -prune -o -name '*.sh' -print0 | sort -z)

# --- checkov ------------------------------------------------------------------

run_check "checkov $CHECKOV_VERSION (framework terraform) finds nothing" \
  "$checkov" --directory . --framework terraform --skip-path .terraform \
  --quiet --compact --skip-download

# --- Terraform itself, when installed -----------------------------------------

# plan_guard VAR=VALUE|-OPTION...: plan variables.tf + guards.tf with these values.
plan_guard() {
  local args=()
  for assignment in "$@"; do
    case $assignment in
      -*) args+=("$assignment") ;;
      *) args+=(-var "$assignment") ;;
    esac
  done
  (cd "$work/guard" && terraform plan -input=false -lock=false -no-color "${args[@]}")
}

# guard_admits VAR=VALUE...: the plan succeeds.
guard_admits() {
  plan_guard "$@"
}

# guard_refuses MESSAGE VAR=VALUE...: the plan fails, saying MESSAGE.
guard_refuses() {
  local message=$1
  shift
  if plan_guard "$@" >"$work/plan.log" 2>&1; then
    echo "the plan succeeded; it should have been refused with: $message"
    return 1
  fi
  if ! tr -s ' \n' ' ' <"$work/plan.log" | grep -F "$message" >/dev/null; then
    cat "$work/plan.log"
    echo "the plan failed, but without: $message"
    return 1
  fi
}

# terraform_renders_identically ROLE: render cloud-init/ROLE.yaml.tftpl with
# Terraform (a configuration of one output needs no provider) and compare.
terraform_renders_identically() {
  local role=$1
  local dir=$work/render-$role
  mkdir -p "$dir"
  printf 'output "rendered" {\n  value = templatefile("%s", jsondecode(file("%s")))\n}\n' \
    "$here/cloud-init/$role.yaml.tftpl" "$work/$role.json" >"$dir/main.tf"
  if ! (cd "$dir" && TF_DATA_DIR=$dir/.terraform terraform apply -input=false -auto-approve -lock=false -no-color) \
    >"$dir/apply.log" 2>&1; then
    cat "$dir/apply.log"
    return 1
  fi
  (cd "$dir" && TF_DATA_DIR=$dir/.terraform terraform output -raw rendered) >"$dir/rendered.yaml"
  diff -u "$work/$role.yaml" "$dir/rendered.yaml"
}

if command -v terraform >/dev/null; then
  run_check "terraform fmt -check" terraform fmt -check -diff -recursive .
  run_check "terraform fmt -check terraform.tfvars.example" \
    sh -c 'terraform fmt -check -diff - <terraform.tfvars.example'

  # variables.tf + guards.tf need no provider: plan them alone, offline.
  mkdir -p "$work/guard"
  cp variables.tf guards.tf "$work/guard/"
  export TF_DATA_DIR=$work/guard/.terraform
  key="admin_ssh_public_key=$(cat "$work/cluster_key.pub")"
  url="imgproc_repo_url=https://example.invalid/imgproc.git"
  if (cd "$work/guard" && terraform init -input=false -backend=false >"$work/init.log" 2>&1); then
    run_check "guard admits terraform.tfvars.example" \
      guard_admits -var-file="$here/terraform.tfvars.example"
    run_check "guard admits allowed_cidr=203.0.113.7/32" \
      guard_admits "$key" "$url" allowed_cidr=203.0.113.7/32
    run_check "guard refuses allowed_cidr=0.0.0.0/0" \
      guard_refuses "to the whole internet" "$key" "$url" allowed_cidr=0.0.0.0/0
    run_check "guard admits 0.0.0.0/0 with allow_any_source=true" \
      guard_admits "$key" "$url" allowed_cidr=0.0.0.0/0 allow_any_source=true
    run_check "guard refuses allowed_cidr=*" \
      guard_refuses "allowed_cidr must be an IPv4 CIDR" "$key" "$url" 'allowed_cidr=*'
    run_check "guard refuses allowed_cidr=203.0.113.7/24 (host bits set)" \
      guard_refuses "written with its network address" "$key" "$url" allowed_cidr=203.0.113.7/24
    run_check "guard refuses an admin_ssh_public_key that is no key" \
      guard_refuses "must be one OpenSSH public key line" admin_ssh_public_key=hunter2 "$url" allowed_cidr=203.0.113.7/32
  else
    run_check "terraform init of the guard files" show_and_fail "$work/init.log"
  fi
  unset TF_DATA_DIR

  # Terraform's own templatefile must give what this check's renderer gave.
  for role in master worker; do
    if [ -s "$work/$role.yaml" ]; then
      run_check "terraform templatefile renders cloud-init/$role.yaml.tftpl identically" \
        terraform_renders_identically "$role"
    fi
  done
else
  skip_check "terraform fmt and the guard plans (no terraform binary)"
fi

echo
if [ $skipped -gt 0 ]; then
  echo "deploy-checks: $passed passed, $failed failed, $skipped skipped"
else
  echo "deploy-checks: $passed passed, $failed failed"
fi
[ $failed -eq 0 ]
