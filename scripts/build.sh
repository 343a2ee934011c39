#!/usr/bin/env bash
# Build the onedir folder dist/jp1notify/ on Linux (the Windows build is scripts/build.ps1).
# PyInstaller cannot cross-compile: this makes a Linux binary, the everyday check of the spec.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv-build
.venv-build/bin/pip install --quiet '.[build]'
.venv-build/bin/pyinstaller --noconfirm --clean --log-level WARN \
    --distpath dist --workpath build/work build/pyinstaller.spec
echo "built: dist/jp1notify/ ($(cat dist/jp1notify/VERSION))"
