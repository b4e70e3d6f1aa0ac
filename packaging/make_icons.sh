#!/usr/bin/env bash
# Renders icons/voxmark.svg to the hicolor PNG sizes desktops look for (ImageMagick's `convert`), the
# macOS icon set (macos/voxmark.icns, 16–1024 px) and the Windows icon (windows/voxmark.ico, 16–256 px)
# with Pillow.
set -euo pipefail
cd "$(dirname "$0")"
for n in 16 32 48 64 128 256 512; do
  mkdir -p "icons/hicolor/${n}x${n}/apps"
  convert -background none -density 384 icons/voxmark.svg -resize "${n}x${n}" \
    -define png:exclude-chunk=date,time "icons/hicolor/${n}x${n}/apps/io.github.voxmark.Voxmark.png"
done
mkdir -p icons/hicolor/scalable/apps
cp icons/voxmark.svg icons/hicolor/scalable/apps/io.github.voxmark.Voxmark.svg
big="$(mktemp --suffix=.png)"
trap 'rm -f "$big"' EXIT
convert -background none -density 768 icons/voxmark.svg -resize 1024x1024 "$big"
python3 - "$big" <<'PY'
import sys
from PIL import Image
icon = Image.open(sys.argv[1]).convert("RGBA")
icon.save("macos/voxmark.icns")
icon.save("windows/voxmark.ico", sizes=[(n, n) for n in (16, 24, 32, 48, 64, 128, 256)])
PY
