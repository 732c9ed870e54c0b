"""Following a run: what it costs the window, and whether it slows the writer.

1. GUI thread: the time of one ``RunFollowing.poll`` (``Follower.poll`` + the events handed
   to the Training panel through the bridge) with nothing new, and with the lines a fast
   writer appends between two polls (10 step records and one evaluation).
2. The writer: ``convscope train`` in a subprocess, its training throughput (the steps'
   ``examples_per_s`` after the first evaluation, so compilation is left out) with and
   without a follower polling its run every 0.5 s (and reading each new latest.npz, as
   the window does), alternated, median of ``--repeats`` each. The target: ≤ 2% slower.

Usage::

    python benchmarks/bench_follow.py [--repeats 3] [--steps 400]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def fake_dataset() -> SimpleNamespace:
    return SimpleNamespace(name="digits", summary=lambda: "digits", origin="builtin:mnist", val_split=None,
                           y_train=np.zeros(512), y_val=np.zeros(100), num_classes=10)


def gui_poll_times(n: int = 400) -> dict[str, float]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from convscope.config import ArchSpec, TrainConfig
    from convscope.runs import RunWriter
    from convscope.runs.metrics import MetricsLog
    from convscope.ui.app import configure_app
    from convscope.ui.follow import RunFollowing
    from convscope.ui.panels.training import TrainingPanel
    from convscope.ui.session import Session

    app = QApplication.instance() or QApplication([])
    configure_app(app)
    data = SimpleNamespace(name="digits", image_shape=(28, 28, 1), num_classes=10)
    session = Session(data, ArchSpec(), TrainConfig(), loop_factory=lambda *a: None)  # never started
    panel = TrainingPanel(session)
    with tempfile.TemporaryDirectory() as tmp:
        w = RunWriter.create(tmp, arch=ArchSpec(), config=TrainConfig(), dataset=fake_dataset())
        log = MetricsLog(w.dir / "metrics.jsonl")
        step = 0

        def append(k: int) -> None:
            nonlocal step
            for _ in range(k):
                step += 5
                log.append({"kind": "step", "step": step, "epoch": step / 100, "loss": 1.0 / step, "acc": 0.9,
                            "lr": 1e-3, "time": step / 100, "examples_per_s": 5000.0, "wall": time.time()})
            log.append({"kind": "eval", "step": step, "epoch": step / 100, "val_loss": 0.5, "val_acc": 0.8,
                        "time": step / 100, "wall": time.time()})

        append(200)  # a run already under way
        follow = RunFollowing(session)
        assert follow.start(w.dir) == "", "cannot follow"
        follow.timer.stop()  # polled by hand here
        idle, busy = [], []
        for _ in range(n):
            t0 = time.perf_counter()
            follow.poll()
            idle.append(time.perf_counter() - t0)
        for _ in range(n):
            append(10)
            t0 = time.perf_counter()
            follow.poll()
            busy.append(time.perf_counter() - t0)
            panel.redraw()  # as its timer would, outside the timing: drawing is the panel's, not the poll's
        log.close()
        follow.stop(resume_training=False)
    return {"idle_ms": 1e3 * statistics.median(idle), "idle_p99_ms": 1e3 * float(np.percentile(idle, 99)),
            "new_lines_ms": 1e3 * statistics.median(busy), "new_lines_p99_ms": 1e3 * float(np.percentile(busy, 99))}


def train_throughput(steps: int, follow: bool) -> float:
    from convscope.runs import Follower
    from convscope.runs.metrics import read_records
    from convscope.train.checkpoint import CheckpointError, load_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        args = [sys.executable, "-m", "convscope", "train", "--steps", str(steps), "--out", str(run), "--quiet",
                "--checkpoint-every", "1", "--set", "filters=8", "--set", "dense=32", "--set", "eval_every=50",
                "--set", "log_every=5"]
        proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        stop = threading.Event()
        cpu = [0.0, 0]  # the follower's CPU seconds, polls
        t_start = time.perf_counter()

        def poll() -> None:
            f = Follower(run)
            while not stop.wait(0.5):
                t0 = time.thread_time()
                up = f.poll()
                if up.checkpoint is not None:
                    try:
                        load_checkpoint(up.checkpoint)
                    except CheckpointError:
                        pass
                cpu[0] += time.thread_time() - t0
                cpu[1] += 1

        thread = threading.Thread(target=poll, daemon=True)
        if follow:
            thread.start()
        _, err = proc.communicate()
        wall = time.perf_counter() - t_start
        stop.set()
        if follow:
            print(f"    follower: {cpu[1]} polls, {1e3 * cpu[0]:.0f} ms CPU in {wall:.1f} s "
                  f"({100 * cpu[0] / wall:.2f}% of one core)", flush=True)
        if proc.returncode != 0:
            raise SystemExit(err[-2000:])
        records, _, _ = read_records(run / "metrics.jsonl", complete=True)
    rates = [r["examples_per_s"] for r in records if r.get("kind") == "step" and r["step"] > 50
             and isinstance(r.get("examples_per_s"), (int, float))]
    return float(statistics.median(rates))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=400)
    args = ap.parse_args()
    print("GUI thread per poll:", {k: round(v, 3) for k, v in gui_poll_times().items()}, flush=True)
    alone, followed = [], []
    for _ in range(args.repeats):
        alone.append(train_throughput(args.steps, follow=False))
        followed.append(train_throughput(args.steps, follow=True))
        print(f"  examples/s: alone {alone[-1]:,.0f}, followed {followed[-1]:,.0f}", flush=True)
    a, f = statistics.median(alone), statistics.median(followed)
    print(f"writer: alone {a:,.0f} examples/s, followed {f:,.0f} (median of {args.repeats}); "
          f"slowdown {100 * (1 - f / a):+.1f}%")


if __name__ == "__main__":
    main()
