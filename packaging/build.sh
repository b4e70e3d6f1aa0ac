#!/usr/bin/env bash
# Builds the packages this machine can build into target/packages/:
#   deb       the Debian package (dpkg-deb; Depends from dpkg-shlibdeps), always on Debian/Ubuntu;
#   appimage  the AppDir, and the AppImage itself when `appimagetool` is on PATH;
#   macos     Voxmark.app (only on macOS);
# and, in every case, ONNX Runtime taken from its PyPI wheel, shipped beside the binary so that
# `voxmark doctor` finds it with nothing set (src/inference/runtime.rs looks in <exe>/../lib/voxmark).
#
# usage: packaging/build.sh [--profile dist|release|dev] [--no-build] [--no-onnxruntime] [deb] [appimage] [macos]
#   With no target: deb and appimage on Linux, macos on macOS.
#   --profile     cargo profile of the binary (default dist: fat LTO, one codegen unit, stripped).
#   --no-build    package the binary already built for that profile.
#   --no-onnxruntime  leave ONNX Runtime out (models then need ORT_DYLIB_PATH or the Python package).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

PROFILE=dist
BUILD=1
WITH_ORT=1
TARGETS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) PROFILE="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --no-onnxruntime) WITH_ORT=0; shift ;;
    deb|appimage|macos) TARGETS+=("$1"); shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if [ ${#TARGETS[@]} -eq 0 ]; then
  case "$(uname -s)" in
    Darwin) TARGETS=(macos) ;;
    *) TARGETS=(deb appimage) ;;
  esac
fi

NAME=voxmark
APP_ID=io.github.voxmark.Voxmark
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
# The ONNX Runtime release the tests run against (tools/requirements.txt pins it).
ORT_VERSION="$(sed -n 's/^onnxruntime==\(.*\)/\1/p' tools/requirements.txt)"
OUT="$ROOT/target/packages"
WORK="$ROOT/target/packaging"
case "$PROFILE" in dev) BIN_DIR=debug ;; *) BIN_DIR="$PROFILE" ;; esac
BIN="$ROOT/target/$BIN_DIR/$NAME"
mkdir -p "$OUT" "$WORK"

say() { printf 'build.sh: %s\n' "$*" >&2; }

if [ "$BUILD" = 1 ]; then
  say "cargo build --profile $PROFILE (a clean dist build takes about 8 minutes on 2 cores)"
  start=$SECONDS
  cargo build --profile "$PROFILE" --bin "$NAME"
  say "built in $((SECONDS - start)) s"
fi
[ -x "$BIN" ] || { say "no binary at $BIN (build it, or drop --no-build)"; exit 1; }
if [ "$PROFILE" != dist ] && [ "$PROFILE" != dev ]; then strip "$BIN" 2>/dev/null || true; fi

# ONNX Runtime: the shared library, its licence and third-party notices, from the PyPI wheel.
ORT_DIR="$WORK/onnxruntime-$ORT_VERSION"
fetch_onnxruntime() {
  [ "$WITH_ORT" = 1 ] || return 0
  if ! ls "$ORT_DIR"/lib/*onnxruntime* >/dev/null 2>&1; then
    say "ONNX Runtime $ORT_VERSION from PyPI"
    rm -rf "$ORT_DIR" && mkdir -p "$ORT_DIR/wheel" "$ORT_DIR/lib" "$ORT_DIR/doc"
    python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
      -d "$ORT_DIR/wheel" "onnxruntime==$ORT_VERSION"
    python3 - "$ORT_DIR" <<'PY'
import glob, os, shutil, sys, zipfile
root = sys.argv[1]
wheel = glob.glob(os.path.join(root, "wheel", "*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        library = (
            base.startswith("libonnxruntime.so")
            or (base.startswith("libonnxruntime.") and base.endswith(".dylib"))
            or base == "onnxruntime.dll"
        )
        if name.startswith("onnxruntime/capi/") and library:
            dest = os.path.join(root, "lib", base)
        elif base in ("LICENSE", "ThirdPartyNotices.txt") and (
            name.startswith("onnxruntime/") or ".dist-info/" in name
        ):
            dest = os.path.join(root, "doc", base)
        else:
            continue
        with z.open(name) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out)
print(sorted(os.listdir(os.path.join(root, "lib"))), file=sys.stderr)
PY
  fi
  ls "$ORT_DIR"/lib/*onnxruntime* >/dev/null 2>&1 || { say "no ONNX Runtime library in the onnxruntime $ORT_VERSION wheel"; exit 1; }
}

# The files every Linux layout shares, under $1/usr.
stage_linux() {
  local usr="$1/usr"
  install -Dm755 "$BIN" "$usr/bin/$NAME"
  install -Dm644 "packaging/linux/$APP_ID.desktop" "$usr/share/applications/$APP_ID.desktop"
  install -Dm644 "packaging/linux/$APP_ID.metainfo.xml" "$usr/share/metainfo/$APP_ID.metainfo.xml"
  install -Dm644 "packaging/linux/$APP_ID.mime.xml" "$usr/share/mime/packages/$APP_ID.xml"
  (cd packaging/icons && find hicolor -type f) | while read -r f; do
    install -Dm644 "packaging/icons/$f" "$usr/share/icons/$f"
  done
  install -Dm644 README.md "$usr/share/doc/$NAME/README.md"
  if [ "$WITH_ORT" = 1 ]; then
    for f in "$ORT_DIR"/lib/*; do install -Dm644 "$f" "$usr/lib/$NAME/$(basename "$f")"; done
    for f in "$ORT_DIR"/doc/*; do install -Dm644 "$f" "$usr/share/doc/$NAME/onnxruntime/$(basename "$f")"; done
  fi
}

build_deb() {
  local arch stage deps deb
  arch="$(dpkg --print-architecture)"
  stage="$WORK/deb/${NAME}_${VERSION}_${arch}"
  rm -rf "$stage" && mkdir -p "$stage/DEBIAN"
  stage_linux "$stage"
  # Debian wants the copyright file in machine-readable form and a compressed changelog.
  sed "s/@YEAR@/$(date +%Y)/" packaging/debian/copyright > "$stage/usr/share/doc/$NAME/copyright"
  chmod 644 "$stage/usr/share/doc/$NAME/copyright"
  printf '%s (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- Voxmark developers <voxmark@users.noreply.github.com>  %s\n' \
    "$NAME" "$VERSION" "$VERSION" "$VERSION" "$(date -R)" | gzip -9n > "$stage/usr/share/doc/$NAME/changelog.Debian.gz"
  # Shared-library dependencies of everything that is loaded at start or on demand.
  local objs=("$stage/usr/bin/$NAME")
  for f in "$stage/usr/lib/$NAME"/*; do [ -f "$f" ] && objs+=("$f"); done
  mkdir -p "$WORK/deb/shlibdeps/debian"
  : > "$WORK/deb/shlibdeps/debian/control"
  deps="$(cd "$WORK/deb/shlibdeps" && dpkg-shlibdeps -O --ignore-missing-info "${objs[@]}" 2>/dev/null \
    | sed -n 's/^shlibs:Depends=//p')"
  [ -n "$deps" ] || { say "dpkg-shlibdeps found no dependencies (is dpkg-dev installed?)"; exit 1; }
  sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$arch/" -e "s/@DEPENDS@/$deps/" \
    -e "s/@SIZE@/$(du -sk --exclude=DEBIAN "$stage" | cut -f1)/" \
    packaging/debian/control > "$stage/DEBIAN/control"
  deb="$OUT/${NAME}_${VERSION}_${arch}.deb"
  dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
  say "$(du -h "$deb" | cut -f1)  $deb"
}

build_appimage() {
  local appdir="$WORK/appimage/Voxmark.AppDir" arch
  arch="$(uname -m)"
  rm -rf "$appdir" && mkdir -p "$appdir"
  stage_linux "$appdir"
  # AppRun: the binary with the bundled ONNX Runtime found beside it (lib/voxmark, as in the .deb).
  install -Dm755 packaging/appimage/AppRun "$appdir/AppRun"
  cp "packaging/linux/$APP_ID.desktop" "$appdir/$APP_ID.desktop"
  cp packaging/icons/hicolor/256x256/apps/$APP_ID.png "$appdir/$APP_ID.png"
  ln -sf "$APP_ID.png" "$appdir/.DirIcon"
  if command -v appimagetool >/dev/null 2>&1; then
    ARCH="$arch" appimagetool --no-appstream "$appdir" "$OUT/Voxmark-$VERSION-$arch.AppImage" >/dev/null
    say "$(du -h "$OUT/Voxmark-$VERSION-$arch.AppImage" | cut -f1)  $OUT/Voxmark-$VERSION-$arch.AppImage"
  else
    say "AppDir ready at $appdir; appimagetool is not on PATH, so no AppImage was made"
    say "  (get it from https://github.com/AppImage/appimagetool, then: ARCH=$arch appimagetool $appdir)"
  fi
}

build_macos() {
  [ "$(uname -s)" = Darwin ] || { say "the macOS bundle is built on macOS (packaging/macos/README.md)"; return 0; }
  local app="$OUT/Voxmark.app"
  rm -rf "$app" && mkdir -p "$app/Contents/MacOS" "$app/Contents/Resources"
  sed "s/@VERSION@/$VERSION/g" packaging/macos/Info.plist > "$app/Contents/Info.plist"
  install -m755 "$BIN" "$app/Contents/MacOS/$NAME"
  cp packaging/macos/voxmark.icns "$app/Contents/Resources/voxmark.icns"
  if [ "$WITH_ORT" = 1 ]; then cp "$ORT_DIR"/lib/* "$app/Contents/MacOS/"; fi
  (cd "$OUT" && ditto -c -k --keepParent Voxmark.app "Voxmark-$VERSION-macos.zip")
  say "$(du -h "$OUT/Voxmark-$VERSION-macos.zip" | cut -f1)  $OUT/Voxmark-$VERSION-macos.zip"
}

fetch_onnxruntime
for t in "${TARGETS[@]}"; do "build_$t"; done
