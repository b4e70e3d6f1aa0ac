#!/usr/bin/env bash
# Installs a built .deb into an empty folder (dpkg-deb -x, no root, nothing touched outside it) and runs
# the installed binary on the corpus: --version, `info` (must print what the tested debug build prints),
# `doctor` (must find the bundled ONNX Runtime beside the binary with nothing set), a LiteMedSAM run
# through that runtime, and a GPU render.
# usage: packaging/smoke-test.sh target/packages/voxmark_<version>_<arch>.deb [CORPUS]
set -euo pipefail
cd "$(dirname "$0")/.."
DEB="$1"
DATA="${2:-${VOXMARK_TEST_DATA:-../shared/data}}"
fail() { echo "smoke-test: FAILED: $*" >&2; exit 1; }

ROOT="$(mktemp -d)"
trap 'rm -rf "$ROOT"' EXIT
dpkg-deb -x "$DEB" "$ROOT"
echo "== $(basename "$DEB") ($(du -h "$DEB" | cut -f1)), installed into an empty folder: $(du -sh "$ROOT" | cut -f1)"
dpkg-deb -f "$DEB" Package Version Architecture Depends
VOXMARK="$ROOT/usr/bin/voxmark"
# The installed binary alone: no ONNX Runtime from the environment, no Python packages on its path.
run() { env -u ORT_DYLIB_PATH PATH=/usr/bin:/bin "$VOXMARK" "$@"; }

VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
[ "$(run --version)" = "voxmark $VERSION" ] || fail "--version says '$(run --version)', expected 'voxmark $VERSION'"
echo "--version: voxmark $VERSION"

# One file of each reader: a JPEG 2000 CT series, a NIfTI, a chest radiograph DICOM.
FILES=(
  "$DATA/dicom/series/ct_abdomen_20sl_j2kr"
  "$DATA/nifti/nibabel/anatomical.nii"
  "$DATA/cxr/dicom/Fake_MONOHR1.dcm"
)
for f in "${FILES[@]}"; do [ -e "$f" ] || fail "corpus file missing: $f"; done
run info "${FILES[@]}" > "$ROOT/info.txt" || fail "voxmark info exited with $?"
cat "$ROOT/info.txt"
if [ -x target/debug/voxmark ]; then
  target/debug/voxmark info "${FILES[@]}" > "$ROOT/info-debug.txt"
  diff "$ROOT/info-debug.txt" "$ROOT/info.txt" || fail "the packaged binary's info differs from the debug build's"
  echo "info: identical to the tested debug build"
fi

run doctor > "$ROOT/doctor.txt" 2>&1 || { cat "$ROOT/doctor.txt"; fail "voxmark doctor exited with $?"; }
cat "$ROOT/doctor.txt"
grep -q "(next to voxmark): $ROOT/usr/bin/../lib/voxmark/libonnxruntime" "$ROOT/doctor.txt" \
  || fail "doctor did not find the bundled ONNX Runtime in $ROOT/usr/lib/voxmark"

# A real model run on the bundled ONNX Runtime: LiteMedSAM on the corpus CT, the liver's box on slice 10.
if [ -f "$DATA/onnx/litemedsam_encoder.onnx" ]; then
  for f in litemedsam_encoder.onnx litemedsam_decoder.int8.onnx; do ln -s "$(cd "$DATA/onnx" && pwd)/$f" "$ROOT/$f"; done
  cp assets/models/litemedsam.toml "$ROOT/"
  run new "$ROOT/ct.voxmark" >/dev/null
  run add "$ROOT/ct.voxmark" "${FILES[0]}" >/dev/null
  IMAGE="$(run ls "$ROOT/ct.voxmark" --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["images"][0]["handle"])')"
  run infer "$ROOT/ct.voxmark" --model "$ROOT/litemedsam.toml" --image "$IMAGE" --slice 10 \
    --box 107,196,163,179 --label liver 2>&1 | tee "$ROOT/infer.txt" || fail "voxmark infer exited with $?"
  grep -q "mask of [0-9]* voxels on slice 10" "$ROOT/infer.txt" || fail "infer made no mask"
fi

run render "$DATA/nifti/nibabel/anatomical.nii" --view axial --size 128x128 --out "$ROOT/axial.png" \
  || fail "voxmark render exited with $?"
python3 - "$ROOT/axial.png" <<'PY' || fail "render did not write a 128×128 PNG"
import struct, sys
head = open(sys.argv[1], "rb").read(24)
assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
w, h = struct.unpack(">II", head[16:24])
assert max(w, h) == 128, (w, h)
print(f"render: {w}x{h} PNG")
PY
echo "smoke-test: passed"
