#!/usr/bin/env bash
# Installs what ddptrain needs on a Debian machine: OpenBLAS (CBLAS), OpenMPI, zstd and pkg-config.
# Safe to run again: packages already present are not reinstalled.
set -euo pipefail

# install_packages PACKAGE…: installs the Debian packages that are not installed yet.
install_packages() {
  local p missing=()
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    local sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# torch_python: prints the Python of a virtual environment with PyTorch (the CPU build, from PyPI),
# NumPy and zstandard, which the PyTorch comparisons use, and safetensors, onnx, onnxruntime and
# tensorboard, which the export and event-file tests use; creates it on first use in $TORCH_VENV (default
# ~/.cache/ddptrain/torch-venv) and adds what an older one lacks. Prints nothing and fails if
# PyTorch cannot be installed.
torch_python() {
  local venv=${TORCH_VENV:-$HOME/.cache/ddptrain/torch-venv} version=${TORCH_VERSION:-2.13.0+cpu}
  if ! "$venv/bin/python" -c "import torch, numpy, zstandard" 2>/dev/null; then
    echo "setup: installing PyTorch $version (CPU build), NumPy and zstandard into $venv" >&2
    python3 -m venv "$venv" >&2 && "$venv/bin/pip" install -q "torch==$version" numpy zstandard >&2 || return 1
  fi
  if ! "$venv/bin/python" -c "import safetensors, onnx, onnxruntime, tensorboard" 2>/dev/null; then
    echo "setup: installing safetensors, onnx, onnxruntime and tensorboard into $venv" >&2
    "$venv/bin/pip" install -q safetensors onnx onnxruntime tensorboard >&2 \
      || echo "setup: safetensors, onnx, onnxruntime or tensorboard could not be installed; the tests that need them will be skipped" >&2
  fi
  echo "$venv/bin/python"
}

install_packages pkg-config libopenblas-dev libopenmpi-dev openmpi-bin libzstd-dev libpng-dev libturbojpeg0-dev

if ! command -v swift >/dev/null 2>&1; then
  [ -x /opt/swift/usr/bin/swift ] && export PATH="$PATH:/opt/swift/usr/bin"
fi
command -v swift >/dev/null 2>&1 || { echo "setup: Swift 6 is required (https://swift.org/install); 'swift' is not on PATH" >&2; exit 1; }
