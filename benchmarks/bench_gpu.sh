#!/usr/bin/env bash
# Issue 14: ConvScope's figures on a machine with a GPU, in one go. Run from the
# checkout with the project's venv (and jax[cuda12] installed into it):
#
#     bash benchmarks/bench_gpu.sh [VENV_PYTHON]      # default .venv/bin/python
#
# Prints: the devices; compile time and training throughput of the three reference
# models at batch 128, 512 and 2048; time to 97% on the built-in digits and to 90% on
# the built-in colour set; the window's cost (under Xvfb when there is no display); a
# loss-landscape grid's time. Every number comes from the project's own benchmarks.
set -uo pipefail
PY=${1:-.venv/bin/python}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
export CONVSCOPE_COMPILE_CACHE=off  # compile times as a first launch sees them

echo "== devices"
"$PY" -c 'import jax; print(jax.default_backend(), jax.devices())' || exit 1

for batch in 128 512 2048; do
  echo "== training throughput and compile time, batch $batch"
  "$PY" benchmarks/bench_training.py --batch "$batch" --windows 3
done

echo "== time to accuracy"
"$PY" -m convscope train --data builtin:mnist --epochs 20 --out "$OUT/digits" --quiet
"$PY" benchmarks/time_to_accuracy.py "$OUT/digits" 0.97
"$PY" -m convscope train --data builtin:colors --epochs 40 --out "$OUT/colors" --quiet
"$PY" benchmarks/time_to_accuracy.py "$OUT/colors" 0.90

echo "== the window's cost (all panels live) and launch"
if [ -n "${DISPLAY:-}" ]; then
  "$PY" benchmarks/bench_gui.py --repeats 1
else
  xvfb-run -a -s "-screen 0 1600x1000x24" "$PY" benchmarks/bench_gui.py --repeats 1
fi

echo "== loss landscape grid"
"$PY" benchmarks/bench_landscape.py --quick
