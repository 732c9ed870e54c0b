"""GUI stalls and training speed while the Deep-visualization panel computes.

The real window (1600×1000) trains the default model on the built-in digits with the
real TrainingLoop. Two phases of ``--seconds`` each: (A) the Training tab on top, the
Deep-visualization panel idle in the background; (B) the Deep-visualization tab on top,
recomputing (throttled) as snapshots arrive. A 10 ms QTimer measures how late the GUI
thread gets to run (its lateness = the stall a user feels); the training speed comes
from the loop's own StepMetrics. Phase (C) repeats (B) with everything compiled.

    python benchmarks/bench_deepvis_gui.py                       # offscreen Qt
    python benchmarks/bench_deepvis_gui.py --screenshot /tmp/dv.png   # also grab it
    taskset -c 0,1 python benchmarks/bench_deepvis_gui.py        # a 2-core machine

Goal: in phase B, GUI lateness p99 under ~100 ms (no frozen window) and training at
least half as fast as in phase A (the probes take at most half the CPU while training).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
TICK_MS = 10


def pump(app, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.001)


def phase(app, window, seconds: float) -> dict:
    """GUI lateness (ms) and examples/s over ``seconds`` of training."""
    from PySide6.QtCore import QEventLoop, QTimer

    late: list[float] = []
    speeds: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        late.append(max(0.0, 1000 * (now - last[0]) - TICK_MS))
        last[0] = now

    timer = QTimer()
    timer.setInterval(TICK_MS)
    timer.timeout.connect(tick)
    on_step = lambda m: speeds.append(m.examples_per_s)  # noqa: E731
    window.session.bridge.stepped.connect(on_step)
    timer.start()
    # A real event loop, not processEvents polling: stalls show as late ticks. (Not
    # app.exec()/quit(): Qt 6's quit() closes the windows.)
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()
    timer.stop()
    window.session.bridge.stepped.disconnect(on_step)
    late.sort()
    return {
        "p50": statistics.median(late) if late else float("nan"),
        "p99": late[int(0.99 * (len(late) - 1))] if late else float("nan"),
        "max": late[-1] if late else float("nan"),
        "speed": statistics.median(speeds) if speeds else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=12.0, help="length of each phase")
    parser.add_argument("--screenshot", default="", help="save the window (and the panel) here at the end")
    args = parser.parse_args()

    from PySide6.QtWidgets import QApplication

    from convscope.config import TrainConfig
    from convscope.data import builtin_mnist
    from convscope.ui.app import configure_app, default_arch
    from convscope.ui.main_window import MainWindow

    app = QApplication(sys.argv[:1])
    configure_app(app)
    data = builtin_mnist()
    window = MainWindow(data, default_arch(data), TrainConfig())
    window.resize(1600, 1000)
    window.show()
    panel = window.panels["Deep visualization"]
    t0 = time.perf_counter()
    while window.session.state != "paused" and time.perf_counter() - t0 < 120:
        pump(app, 0.05)
    window.session.train()
    pump(app, 3.0)  # past the first steps' compilation
    window.docks["Training"].raise_()
    a = phase(app, window, args.seconds)
    done_before = panel.requests
    window.docks["Deep visualization"].raise_()
    b = phase(app, window, args.seconds)
    computed = panel.requests - done_before
    done_before = panel.requests
    c = phase(app, window, args.seconds)  # compiled by now
    computed_c = panel.requests - done_before
    cpus = f"{os.cpu_count()} CPUs visible, affinity {len(os.sched_getaffinity(0))}, load {os.getloadavg()[0]:.1f}"
    print(f"A (panel in the background): GUI late p50 {a['p50']:.1f} ms  p99 {a['p99']:.1f} ms  "
          f"max {a['max']:.0f} ms · training {a['speed']:,.0f} examples/s")
    print(f"B (panel computing):         GUI late p50 {b['p50']:.1f} ms  p99 {b['p99']:.1f} ms  "
          f"max {b['max']:.0f} ms · training {b['speed']:,.0f} examples/s · {computed} computations "
          f"(progress bar: {panel.progress.text()!r})")
    print(f"C (computing, compiled):     GUI late p50 {c['p50']:.1f} ms  p99 {c['p99']:.1f} ms  "
          f"max {c['max']:.0f} ms · training {c['speed']:,.0f} examples/s · {computed_c} computations "
          f"(progress bar: {panel.progress.text()!r})")
    print(f"({cpus}; phase B's first computation includes compiling)")
    if args.screenshot:
        t0 = time.perf_counter()
        while (panel.actmax is None or panel.saliency.result is None) and time.perf_counter() - t0 < 60:
            pump(app, 0.1)
        panel.select_channel(5)
        pump(app, 0.5)
        window.grab().save(args.screenshot)
        root, ext = os.path.splitext(args.screenshot)
        panel.grab().save(f"{root}-panel{ext}")
    window.close()


if __name__ == "__main__":
    main()
