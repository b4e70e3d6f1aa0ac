#!/usr/bin/env bash
# Starts the viewer on a virtual X display (Xvfb) and saves a PNG of the window once it has loaded.
#
#   tools/screenshot.sh OUT.png [--wait SECONDS] [--size WxH] [--keys "KEY ..."] -- [voxmark arguments...]
#
# --keys sends keys with xdotool after loading (e.g. "b" picks the box tool, "F1" the shortcuts).
# Needs xvfb, x11-apps (xwd) and imagemagick (convert); uses target/debug/voxmark (cargo build first).
set -euo pipefail
out=$1; shift
wait_s=8; size=1440x900; keys=""
while [[ $# -gt 0 && $1 != "--" ]]; do
  case $1 in
    --wait) wait_s=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --keys) keys=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[[ ${1:-} == "--" ]] && shift
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${VOXMARK_BIN:-$here/target/debug/voxmark}
display=:$((90 + RANDOM % 9))
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/voxmark-xdg}
mkdir -p -m 0700 "$XDG_RUNTIME_DIR"
Xvfb "$display" -screen 0 "${size}x24" -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
trap 'kill $app $xvfb 2>/dev/null || true' EXIT
sleep 1
DISPLAY=$display WAYLAND_DISPLAY= WINIT_UNIX_BACKEND=x11 "$bin" "$@" >/tmp/voxmark-screenshot.log 2>&1 &
app=$!
sleep "$wait_s"
if [[ -n $keys ]]; then
  wid=$(DISPLAY=$display xdotool search --name Voxmark | head -1 || true)
  for k in $keys; do
    DISPLAY=$display xdotool ${wid:+windowfocus --sync $wid} key "$k" || true
    sleep 0.3
  done
  sleep 1
fi
DISPLAY=$display xwd -root -silent | convert xwd:- -crop "${size}+0+0" "$out"
echo "saved $out"
