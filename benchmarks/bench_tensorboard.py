"""What ``convscope train --tensorboard`` costs the training it watches.

Runs ``convscope train`` in this process (so every run shares the compiled steps) on the
default model and the built-in digits, alternately without and with ``--tensorboard``,
and reports for each run its training time (``run.json``'s ``train_time``: the steps
alone, compilation excluded) and wall time. For the runs with ``--tensorboard`` it
also measures the cost directly, which a loaded machine cannot hide:

* ``observe``: the time spent in ``LiveTensorBoard.observe`` on the training thread
  (the scalars, and handing a checkpoint to the image thread), as a share of the
  training time;
* ``images``: the CPU time of the image thread (reading each history checkpoint,
  computing the feature maps — the first call compiles the forward pass — and
  encoding the PNGs), as a share of the training time; it runs beside training.

Usage::

    PYTHONPATH=. python benchmarks/bench_tensorboard.py [--steps 300] [--repeats 2]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--set", action="append", default=[], help="passed on to convscope train")
    args = ap.parse_args()

    from convscope.cli import main as convscope
    from convscope.runs import tensorboard as T

    costs = {"observe": 0.0, "calls": 0, "images": 0.0}
    observe, work = T.LiveTensorBoard.observe, T.LiveTensorBoard._work

    def timed_observe(self, event, loop):
        t = time.perf_counter()
        observe(self, event, loop)
        costs["observe"] += time.perf_counter() - t
        costs["calls"] += 1

    def timed_work(self):
        t = time.thread_time()
        try:
            work(self)
        finally:
            costs["images"] += time.thread_time() - t

    T.LiveTensorBoard.observe, T.LiveTensorBoard._work = timed_observe, timed_work
    sets = [a for s in args.set for a in ("--set", s)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        # one untimed run first: the compiled steps are then shared by every timed run
        for i, mode in enumerate(["warm-up"] + ["plain", "tensorboard"] * args.repeats):
            out = Path(tmp) / f"run{i}"
            extra = ["--tensorboard", str(Path(tmp) / "tb")] if mode == "tensorboard" else []
            for k in costs:
                costs[k] = 0
            t = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                status = convscope(["train", "--steps", str(args.steps if mode != "warm-up" else 20), "--out",
                                    str(out), "--quiet", *sets, *extra])
            wall = time.perf_counter() - t
            assert status == 0, status
            train = json.loads((out / "run.json").read_text())["summary"]["train_time"]
            if mode == "warm-up":
                continue
            row = f"{mode:12s} train {train:7.2f} s  wall {wall:7.2f} s"
            if mode == "tensorboard":
                row += (f"  observe {costs['observe'] * 1e3:7.1f} ms in {costs['calls']} calls "
                        f"({100 * costs['observe'] / train:.2f}% of training)  images {costs['images']:.2f} s CPU "
                        f"({100 * costs['images'] / train:.1f}%)")
            rows.append(row)
            print(row, flush=True)


if __name__ == "__main__":
    main()
