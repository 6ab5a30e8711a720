#!/usr/bin/env bash
# Set up and run the whole test suite, GUI tests included (headless, under Xvfb).
set -euo pipefail
cd "$(dirname "$0")/.."
# Qt 6 and vispy need a virtual X server and the xcb libraries (QT_QPA_PLATFORM=offscreen
# alone breaks vispy's OpenGL).
pkgs=(xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0 libxcb-cursor0 libxcb-image0
      libxcb-render-util0 libxcb-randr0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1
      libxkbcommon-x11-0 libgl1 libegl1 libfontconfig1 libdbus-1-3 libglib2.0-0)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
bash scripts/setup.sh testing
.venv/bin/ruff check src tests
# pytest-xvfb starts Xvfb for the GUI tests
.venv/bin/python -m pytest "$@"
