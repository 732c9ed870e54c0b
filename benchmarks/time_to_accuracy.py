"""Seconds of training (compilation excluded, as the run's metrics count it) until a
run's validation accuracy first reaches a target; used by bench_gpu.sh.

    python benchmarks/time_to_accuracy.py RUN_DIR 0.97
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def seconds_to(run: Path, target: float) -> tuple[float, int] | None:
    for line in (run / "metrics.jsonl").read_text().splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        if record.get("val_acc", -1.0) >= target:
            return float(record["time"]), int(record["step"])
    return None


if __name__ == "__main__":
    run, target = Path(sys.argv[1]), float(sys.argv[2])
    hit = seconds_to(run, target)
    print(f"{run.name}: never reached {target:.0%}" if hit is None else
          f"{run.name}: {target:.0%} after {hit[0]:.1f} s of training (step {hit[1]:,})")
