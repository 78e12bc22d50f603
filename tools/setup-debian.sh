#!/usr/bin/env bash
# Installs what smoothread needs on Debian 12 (only the packages that are missing) and puts
# the CUDA toolkit on PATH when it is installed. Source it or run it; safe to repeat.
set -euo pipefail
packages=(build-essential cmake ninja-build git pkg-config libopenmpi-dev openmpi-bin libhdf5-dev
          libboost-program-options-dev libgtest-dev nlohmann-json3-dev python3 python3-h5py
          python3-numpy)
packages+=("$@")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
