#!/usr/bin/env bash
# Runs Voxmark on a fresh Debian machine with Rust: installs the system packages it builds with, then
# builds (release, about 13 minutes the first time on 2 cores) and starts it with your arguments:
#   bash run.sh                      the viewer
#   bash run.sh study.voxmark        the viewer on a project, file or folder
#   bash run.sh info --json ct/      any headless command (see `bash run.sh --help`)
set -euo pipefail
cd "$(dirname "$0")"
bash tools/setup-system.sh
exec cargo run --release --quiet -- "$@"
