# Sourced by the project's scripts: the environment every imgproc command here runs in.
# shellcheck shell=bash

if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
# Open MPI refuses to run as root without these; CI and cloud-init run as root.
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
# No process manager of a batch system here: keep Open MPI from looking for one, and quiet.
export OMPI_MCA_btl_base_warn_component_unused=0
