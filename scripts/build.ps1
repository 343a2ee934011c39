# Build the onedir folder dist\jp1notify\ on Windows with the python.org CPython (3.11+).
# Run from the project folder:  powershell -ExecutionPolicy Bypass -File scripts\build.ps1
$ErrorActionPreference = "Stop"
Set-Location (Split-Path -Parent $PSScriptRoot)
py -3 -m venv .venv-build
.venv-build\Scripts\pip install --quiet ".[build]"
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
.venv-build\Scripts\pyinstaller --noconfirm --clean --log-level WARN --distpath dist --workpath build\work build\pyinstaller.spec
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
Write-Host "built: dist\jp1notify\ $(Get-Content dist\jp1notify\VERSION)"
