#!/usr/bin/env bash
# Smoke test of the one-folder app built by packaging/build-bundle.sh, run headless and
# offline-alike (no venv, no checkout on the path, run from a folder of its own):
#   1. `convscope --version`          (cold start: the first run of the bundle)
#   2. `convscope train --steps 5`    on the built-in digits, inside the bundle
#   3. `convscope inspect`            a sample photo the bundle carries, with that checkpoint
#   4. the window under Xvfb, training for a few seconds, and its screenshot, which must not
#      be blank (hundreds of colours, the size of the window)
# Each runs without a network where `unshare -n` works (root, or user namespaces), so
# "starts offline" is tested, not assumed. Prints how long each took. Usage: bash packaging/smoke-test-bundle.sh [DIST_DIR]
# (default dist/convscope). SCREENSHOT=path keeps the window's screenshot there.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIST=$(cd "${1:-$REPO/dist/convscope}" && pwd)
BIN="$DIST/convscope"
[[ -x "$BIN" ]] || { echo "[smoke] no bundle at $BIN: run packaging/build-bundle.sh" >&2; exit 1; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/convscope-smoke.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/x"
cd "$WORK/x"

log() { printf '[smoke] %s\n' "$*" >&2; }
fail() { log "FAILED: $*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# Nothing from a venv or the checkout may help the bundle along.
unset PYTHONPATH PYTHONHOME VIRTUAL_ENV CONVSCOPE_RUNS
export PATH=/usr/bin:/bin XDG_CONFIG_HOME="$WORK/config" XDG_DATA_HOME="$WORK/data"
export XDG_CACHE_HOME="$WORK/cache" MPLCONFIGDIR="$WORK/cache"

# A network namespace of its own, with no interface up but loopback: no network at all.
if unshare -n true 2>/dev/null; then
  OFFLINE="unshare -n"
  log "running the bundle without a network (unshare -n)"
else
  OFFLINE=""
  log "unshare -n is not allowed here: the bundle runs with the machine's network"
fi
export OFFLINE

t=$(now)
out=$($OFFLINE "$BIN" --version) || fail "--version exited $?"
[[ "$out" =~ ^convscope\ [0-9] ]] || fail "--version printed '$out'"
log "--version: '$out' in $(since "$t") s (cold start)"

t=$(now)
$OFFLINE "$BIN" train --steps 5 --out run --quiet || fail "train --steps 5"
[[ -s run/checkpoints/final.npz ]] || fail "train wrote no checkpoint"
log "train --steps 5 on the built-in digits: $(since "$t") s"

sample=$(ls "$DIST"/_internal/convscope/assets/images/*.png 2>/dev/null | head -1 || true)
[[ -n "$sample" ]] || fail "the bundle carries no sample photos (convscope/assets/images)"
t=$(now)
$OFFLINE "$BIN" inspect "$sample" --checkpoint run/checkpoints/final.npz --out inspect >inspect.log \
  || { cat inspect.log >&2; fail "inspect"; }
[[ -s inspect/prediction.json ]] || fail "inspect wrote no prediction.json"
log "inspect $(basename "$sample"): $(since "$t") s ($(ls inspect | wc -l) files)"

shot=${SCREENSHOT:-$WORK/window.png}
# Under Xvfb: the time until the window is on screen (xdotool sees it mapped), then the
# autotrain run: Train as soon as the model is ready, a screenshot N s after the first
# metrics, quit.
export BIN shot
CONVSCOPE_AUTOTRAIN_SECONDS=${AUTOTRAIN_SECONDS:-3} CONVSCOPE_SCREENSHOT="$shot" \
  timeout 300 xvfb-run -a -s "-screen 0 1280x720x24" bash -c '
    t0=$(date +%s.%N)
    $OFFLINE "$BIN" >window.log 2>&1 & pid=$!
    if command -v xdotool >/dev/null && timeout 120 xdotool search --sync --onlyvisible --name "^ConvScope" >/dev/null 2>&1; then
      awk -v a="$t0" -v b="$(date +%s.%N)" "BEGIN { printf \"%.1f\n\", b - a }" >shown.txt
    fi
    wait "$pid"; code=$?
    awk -v a="$t0" -v b="$(date +%s.%N)" "BEGIN { printf \"%.1f\n\", b - a }" >total.txt
    exit "$code"' || { cat window.log >&2; fail "the window"; }
grep -q "autotrain stopped" window.log || { cat window.log >&2; fail "the window did not train"; }
log "window on screen after $(cat shown.txt 2>/dev/null || echo '?') s; $(grep 'autotrain stopped' window.log); quit after $(cat total.txt) s"
# ImageMagick (in the CI's Debian packages) counts the colours; no Python outside the bundle.
if command -v identify >/dev/null 2>&1; then
  read -r w h colours < <(identify -format '%w %h %k\n' "$shot")
else
  fail "ImageMagick's identify is needed to check the screenshot"
fi
log "screenshot $shot: ${w}x${h}, $colours colours"
(( w >= 1000 && h >= 600 && colours >= 64 )) || fail "the screenshot looks blank or small"
log "ok: $(du -sh "$DIST" | cut -f1) bundle starts, trains, inspects and opens the window"
