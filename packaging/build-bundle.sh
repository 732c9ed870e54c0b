#!/usr/bin/env bash
# Builds ConvScope as a one-folder app with PyInstaller: dist/convscope/convscope, which
# needs no Python, no network and no checkout (see packaging/README.md).
#
#   bash packaging/build-bundle.sh             # makes build/bundle-venv and builds
#   BUNDLE_VENV=/path/to/venv bash packaging/build-bundle.sh   # build in that venv (its
#                                                  convscope is replaced; an editable one is refused)
#   WHEEL=dist/convscope-0.1.0-py3-none-any.whl bash packaging/build-bundle.sh
#
# The venv gets ConvScope installed from a wheel (WHEEL, else one built here from the
# checkout: the package then carries assets/ as convscope/assets) and PyInstaller; the
# spec, packaging/pyinstaller/convscope.spec, says what goes in and what is left out.
# PYTHON picks the interpreter that makes the venv (default python3; it must have a
# shared libpython, as Debian's and python.org's have).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
PYTHON=${PYTHON:-python3}
VENV=${BUNDLE_VENV:-$REPO/build/bundle-venv}
PYINSTALLER_SPEC=${PYINSTALLER_SPEC:-pyinstaller>=6.10,<7}
log() { printf '[bundle] %s\n' "$*" >&2; }
start=$SECONDS

if ! "$VENV/bin/python" -c '' >/dev/null 2>&1; then
  log "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
py="$VENV/bin/python"
# The venv's ConvScope is replaced by the wheel's: never a developer's editable install.
if "$py" -m pip show convscope 2>/dev/null | grep -q '^Editable project location:'; then
  log "$VENV holds an editable install of ConvScope, which this would replace; give another BUNDLE_VENV"
  exit 2
fi
"$py" -m pip install -q --disable-pip-version-check "$PYINSTALLER_SPEC" build

wheel=${WHEEL:-}
if [[ -z "$wheel" ]]; then
  # From a copy of the source, so that no build/ or *.egg-info lands beside the package.
  src=$(mktemp -d "${TMPDIR:-/tmp}/convscope-bundle-src.XXXXXX")
  trap 'rm -rf "$src"' EXIT
  for item in pyproject.toml setup.py MANIFEST.in README.md CHANGELOG.md convscope assets; do
    cp -R "$item" "$src/"
  done
  find "$src" -name __pycache__ -prune -exec rm -rf {} +
  "$py" -m build --wheel --outdir "$src/dist" "$src" >"$src/build.log" 2>&1 \
    || { tail -30 "$src/build.log" >&2; log "building the wheel failed"; exit 1; }
  wheel=$(ls "$src"/dist/convscope-*.whl)
fi
log "installing $(basename "$wheel") into $VENV"
"$py" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$wheel"
"$py" -m pip install -q --disable-pip-version-check "$wheel"

log "running PyInstaller"
"$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
  --distpath "$REPO/dist" --workpath "$REPO/build/pyinstaller" \
  packaging/pyinstaller/convscope.spec
log "built dist/convscope ($(du -sh dist/convscope | cut -f1)) in $((SECONDS - start)) s"
