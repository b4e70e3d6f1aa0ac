#!/usr/bin/env bash
# Renders icons/voxmark.svg to the hicolor PNG sizes desktops look for (ImageMagick's `convert`).
set -euo pipefail
cd "$(dirname "$0")"
for n in 16 32 48 64 128 256 512; do
  mkdir -p "icons/hicolor/${n}x${n}/apps"
  convert -background none -density 384 icons/voxmark.svg -resize "${n}x${n}" \
    "icons/hicolor/${n}x${n}/apps/io.github.voxmark.Voxmark.png"
done
mkdir -p icons/hicolor/scalable/apps
cp icons/voxmark.svg icons/hicolor/scalable/apps/io.github.voxmark.Voxmark.svg
