#!/usr/bin/env bash
# Installs what imgproc needs on Debian 12, and nothing when it is all there.
#
#   bash scripts/install-deps.sh            # building and running imgproc (scripts/setup.sh)
#   bash scripts/install-deps.sh --tests    # and what the tests need (scripts/test.sh)
#
# To build and run: Open MPI, OpenCV, clang (the opencv crate's binding generator), the libjpeg
# and libtiff headers (the C shims over the libraries OpenCV links), GTK 3 (the file dialogs) and
# the libraries the window opens, ffmpeg (videos: ffprobe, encoding segments, the join),
# ImageMagick (the set-up's pixel compare), and a Rust toolchain through rustup when cargo is
# missing. For the tests, besides: Xvfb and xdotool (the GUI test), libtiff's tools and libvips
# (test files for the row decoders; vips: the second reader of files written in pieces), the
# shell linter, iproute2 (the simulated hosts), Python (the module-graph check), headless
# Chromium, its WebDriver and Selenium (the web page test), unzip (archives from the server),
# python3-onnx, numpy, OpenCV and requests (the classify tests: building models, the one-process
# reference, the /whatis client), and clippy and rustfmt. Runs as root, or through sudo.
set -euo pipefail

tests=false
if [ "${1:-}" = "--tests" ]; then
  tests=true
fi

packages=(
  build-essential pkg-config
  libopenmpi-dev openmpi-bin
  libopencv-dev clang libclang-dev libjpeg62-turbo-dev libtiff-dev
  libgtk-3-dev
  libxkbcommon-x11-0 libgl1 libegl1 libgl1-mesa-dri libxcursor1 libxrandr2 libxi6
  imagemagick ffmpeg procps curl ca-certificates
)
if $tests; then
  packages+=(
    xvfb xauth x11-utils xdotool
    libtiff-tools libvips-tools
    shellcheck iproute2 iputils-ping time python3 unzip
    chromium chromium-driver python3-selenium
    python3-onnx python3-numpy python3-opencv python3-requests
  )
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  sudo_cmd=(sudo)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null; then
  echo "install-deps: installing the Rust toolchain with rustup" >&2
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  export PATH="$HOME/.cargo/bin:$PATH"
fi
# clippy and rustfmt are needed by the test command.
if $tests && { ! cargo clippy --version >/dev/null 2>&1 || ! cargo fmt --version >/dev/null 2>&1; }; then
  rustup component add clippy rustfmt
fi
