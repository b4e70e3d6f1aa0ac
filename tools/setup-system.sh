#!/usr/bin/env bash
# System packages Voxmark needs on Debian: cmake (CharLS, the JPEG-LS codec, is built from source),
# Mesa's software Vulkan driver (lavapipe) so that rendering works and is tested without a GPU, and
# dpkg-dev (dpkg-shlibdeps) for the Debian package's dependencies (packaging/build.sh), and the DICOM
# validators the SR/SEG export tests run: dicom3tools (dciodvfy) and dcmtk (dsrdump).
# Installs only what is missing; uses sudo when not root.
set -euo pipefail
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
PACKAGES=(cmake mesa-vulkan-drivers libvulkan1 dpkg-dev dicom3tools dcmtk)
if ! dpkg -s "${PACKAGES[@]}" >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${PACKAGES[@]}" >/dev/null
fi
