"""How much "follow training" on the Loss landscape panel slows training down, at a
given share of CPU time ("CPU share while training").

The real TrainingLoop trains the default model on the built-in digits (batch 128)
through a Session, as in the app; the panel (offscreen, drawn) follows it at 21×21 on
256 training images. Windows alternate: training alone (the panel idle), then training
with "follow training" on at one share, and so on, so that drift on a shared machine
hits both alike. Reported per share: training throughput relative to the neighbouring
windows alone, and what the panel delivered (grids, grid points per second).

    python benchmarks/bench_landscape_gui.py                 # shares 0.25, 0.5, 1.0; 10 s windows
    python benchmarks/bench_landscape_gui.py --seconds 20 --shares 0.1,0.5
    taskset -c 0,1 python benchmarks/bench_landscape_gui.py  # a 2-core machine

What to expect: the probe computes at most ``share`` of the wall time; while it computes
it competes with XLA's training threads for the cores, so the slowdown should stay at
or below about ``share`` (much less when the probe's work is small).

Measured (shared 2-core EPYC, load ≈ 4 from other jobs, 15 s windows): training 17% slower
at a 25% share, 25% at 50%, 60% at 100% (alone: 1,560–2,310 examples/s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def pump(app, seconds: float, until=None) -> bool:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        if until is not None and until():
            return True
        time.sleep(0.005)
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each window")
    parser.add_argument("--shares", default="0.25,0.5,1.0", help="comma-separated shares to measure")
    parser.add_argument("--resolution", type=int, default=21)
    parser.add_argument("--batch", type=int, default=256, help="evaluation batch of the landscape")
    args = parser.parse_args()
    shares = [float(s) for s in args.shares.split(",")]

    from pyqtgraph.util.garbage_collector import GarbageCollector
    from PySide6.QtWidgets import QApplication

    from convscope.config import TrainConfig
    from convscope.data import load_dataset
    from convscope.train.loop import TrainingLoop
    from convscope.ui.app import configure_app, default_arch
    from convscope.ui.panels.landscape import LandscapePanel
    from convscope.ui.session import Session

    app = QApplication(sys.argv[:1])
    configure_app(app)
    collector = GarbageCollector(interval=0.5)
    data = load_dataset(None)
    config = TrainConfig(batch_size=128)
    session = Session(data, default_arch(data), config, TrainingLoop)
    panel = LandscapePanel(session)
    panel.auto_compute = False
    panel.resize(1100, 650)
    panel.show()
    c = panel.controls
    c.resolution.setValue(args.resolution)
    c.batch.setCurrentIndex(c.batch.findData(args.batch))
    steps: list[tuple[float, int]] = []
    session.bridge.stepped.connect(lambda m: steps.append((time.perf_counter(), m.step)))
    grids: list[float] = []
    points: list[tuple[float, int]] = []  # (time, grid points evaluated since the last report)
    last: dict[str, object] = {"request": None, "done": 0}

    def on_progress(_tag: object, payload) -> None:
        if payload.request is not last["request"]:
            last.update(request=payload.request, done=0)
        points.append((time.perf_counter(), payload.progress.done - int(last["done"])))
        last["done"] = payload.progress.done

    panel.runner.finished.connect(lambda _t, r: grids.append(time.perf_counter()))
    panel.runner.progressed.connect(on_progress)
    session.bridge.started.connect(lambda _e: session.train())
    session.start()
    if not pump(app, 300, lambda: len(steps) > 5):
        sys.exit("training did not start")

    def rate(t0: float, t1: float) -> float:
        inside = [s for t, s in steps if t0 <= t <= t1]
        return (inside[-1] - inside[0]) * config.batch_size / (t1 - t0) if len(inside) > 1 else float("nan")

    def window(share: float | None) -> tuple[float, int, float]:
        if share is None:
            panel.cancel()
            pump(app, 60, lambda: panel.runner.idle())
        else:
            c.share.setValue(round(100 * share))
            c.follow.setChecked(True)
        n_grids, t0 = len(grids), time.perf_counter()
        p0 = len(points)
        pump(app, args.seconds)
        t1 = time.perf_counter()
        done = sum(n for t, n in points[p0:] if t0 <= t <= t1)
        return rate(t0, t1), len(grids) - n_grids, done / (t1 - t0)

    window(shares[0])  # warm-up: the landscape's evaluator compiles
    print(f"{os.cpu_count()} CPUs visible, affinity {len(os.sched_getaffinity(0))}; "
          f"{args.seconds:.0f} s windows; grid {args.resolution}² on {args.batch} images")  # fmt: skip
    alone = [window(None)[0]]
    for share in shares:
        with_probe, n, pps = window(share)
        alone.append(window(None)[0])
        base = statistics.mean(alone[-2:])
        print(
            f"share {share:4.0%}: training {with_probe:7.0f} ex/s vs {base:7.0f} alone "
            f"→ {100 * (1 - with_probe / base):5.1f}% slower; {n} grids finished, "
            f"{pps:5.1f} grid points/s"
        )
    panel.cancel()
    session.shutdown(5.0)
    panel.runner.shutdown(2.0)
    collector.timer.stop()


if __name__ == "__main__":
    main()
