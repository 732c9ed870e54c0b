"""What the window costs: training throughput with all panels live versus headless,
event-loop stalls on the GUI thread while training, and launch-to-window time.

Each measurement runs in a fresh subprocess. Usage (offscreen Qt unless a display is
set; under Xvfb: ``xvfb-run -a -s "-screen 0 1600x1000x24" python benchmarks/bench_gui.py``)::

    python benchmarks/bench_gui.py [--seconds 20] [--repeats 2] [--launches 3] [--launch-only]

Targets (issue 2): GUI throughput ≥ 90% of headless; stall p99 < 20 ms and no stall
over 100 ms after compilation. Beside the throughput ratio it prints the ratio of the
process's CPU time per example (headless / window: what the window adds, less sensitive
to other jobs on a shared machine than throughput) and the GUI thread's share of a core.
Launch (issue 14): through ``run_gui``, from the process's spawn to the model compiled
and ready, ≤ 3 s on a second launch (JAX's persistent compilation cache filled by the
first, in a temporary folder).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def headless(seconds: float) -> dict:
    import queue

    from convscope import events as ev
    from convscope.config import ArchSpec, TrainConfig
    from convscope.data import builtin_mnist
    from convscope.train.loop import TrainingLoop

    loop = TrainingLoop(ArchSpec(), TrainConfig(), builtin_mnist())
    gen = loop.events(queue.Queue(), start_paused=False)
    t_start = None
    ex_start = 0
    for e in gen:
        if isinstance(e, ev.StepMetrics):
            if t_start is None:  # the first chunk includes compilation
                t_start, ex_start, cpu_start = loop.train_time, loop.examples_seen, time.process_time()
            elif loop.train_time - t_start >= seconds:
                break
    examples = loop.examples_seen - ex_start
    return {
        "examples_per_s": examples / (loop.train_time - t_start),
        "cpu_ms_per_example": 1000 * (time.process_time() - cpu_start) / examples,
    }


def gui(seconds: float) -> dict:
    import numpy as np
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from convscope.config import ArchSpec, TrainConfig
    from convscope.data import builtin_mnist
    from convscope.train.compile_cache import enable
    from convscope.ui.app import configure_app
    from convscope.ui.main_window import MainWindow

    enable()  # as run_gui does: CONVSCOPE_COMPILE_CACHE (set by main) says where
    app = QApplication.instance() or QApplication([])
    configure_app(app)
    window = MainWindow(builtin_mnist(), ArchSpec(), TrainConfig())
    window.resize(1600, 1000)
    window.show()
    rates: list[tuple[float, int]] = []
    gaps: list[float] = []
    state = {"t_measure": None, "last": None, "ex0": None, "steps": []}
    tick_ms = 5

    def on_step(m) -> None:
        state["steps"].append((time.perf_counter(), m.step, time.process_time()))

    window.session.bridge.stepped.connect(on_step)

    def tick() -> None:
        now = time.perf_counter()
        if state["t_measure"] is not None and state["last"] is not None:
            gaps.append((now - state["last"]) * 1000 - tick_ms)
        state["last"] = now

    timer = QTimer()
    timer.setInterval(tick_ms)
    timer.timeout.connect(tick)
    timer.start()

    def begin() -> None:
        state["t_measure"] = time.perf_counter()
        state["gui_cpu0"] = time.thread_time()  # this (the GUI) thread's CPU time
        state["n0"] = len(state["steps"])
        QTimer.singleShot(int(seconds * 1000), finish)

    def wait_compiled() -> None:
        if len(state["steps"]) >= 2:  # first StepMetrics carries the compile; measure after
            begin()
        else:
            QTimer.singleShot(50, wait_compiled)

    def finish() -> None:
        steps = state["steps"][state["n0"]:]
        if len(steps) >= 2:
            (t1, s1, c1), (t2, s2, c2) = steps[0], steps[-1]
            rates.append(((s2 - s1) * window.session.config.batch_size, t2 - t1))
            # the whole process's CPU time (training, probes, GUI) per example, metrics to metrics
            state["cpu_per_ex"] = 1000 * (c2 - c1) / ((s2 - s1) * window.session.config.batch_size)
        state["gui_cpu"] = (time.thread_time() - state["gui_cpu0"]) / (time.perf_counter() - state["t_measure"])
        window.close()
        app.quit()

    window.session.start()
    window.session.train()
    QTimer.singleShot(100, wait_compiled)
    app.exec()
    g = np.asarray(gaps) if gaps else np.zeros(1)
    ex, dt = rates[0] if rates else (0, 1)
    return {
        "examples_per_s": ex / dt,
        "stall_p50_ms": float(np.percentile(g, 50)),
        "stall_p99_ms": float(np.percentile(g, 99)),
        "stall_max_ms": float(g.max()),
        "stalls_over_100ms": int((g > 100).sum()),
        "ticks": len(gaps),
        "gui_thread_cpu": state.get("gui_cpu", float("nan")),  # CPU seconds per second, bench timer included
        "cpu_ms_per_example": state.get("cpu_per_ex", float("nan")),
    }


def launch() -> dict:  # (prints its result and leaves the process, as the app does)
    """One launch through the app's own start (``run_gui``, as ``convscope gui`` runs it, in
    demo mode: no user settings), timed on the wall clock from the parent's spawn
    (``CONVSCOPE_BENCH_SPAWNED``): imports done, window constructed, shown (first event
    after ``show``), model compiled and ready (``Started``); then the window closes."""
    from PySide6.QtCore import QTimer

    import convscope.ui.app as app_mod

    out: dict = {"imports_done_s": time.time()}
    base = app_mod.MainWindow

    class TimedWindow(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs) -> None:
            out["window_building_s"] = time.time()
            super().__init__(*args, **kwargs)
            out["window_built_s"] = time.time()
            self.session.bridge.compiling.connect(lambda _e: out.setdefault("compiling_s", time.time()))
            self.session.bridge.started.connect(self._ready)

        def show(self) -> None:
            super().show()
            QTimer.singleShot(0, lambda: out.setdefault("window_visible_s", time.time()))

        def _ready(self, _event) -> None:
            out.setdefault("model_ready_s", time.time())
            self.close()

    def leave(code: int) -> None:
        spawned = float(os.environ["CONVSCOPE_BENCH_SPAWNED"])
        print(json.dumps({k: v - spawned for k, v in out.items()}), flush=True)
        os._exit(code)

    app_mod.MainWindow, app_mod.leave = TimedWindow, leave
    os.environ["CONVSCOPE_AUTOTRAIN_SECONDS"] = "600"  # demo mode: the default layout, no settings
    raise SystemExit(f"run_gui returned {app_mod.run_gui()} before the model was ready")


def child(mode: str, seconds: float) -> None:
    import convscope  # noqa: F401  (XLA flags before jax)

    result = {"headless": lambda: headless(seconds), "gui": lambda: gui(seconds), "launch": launch}[mode]()
    print(json.dumps(result), flush=True)
    # As the app does after its window closed: a training thread still inside XLA would
    # abort the interpreter's teardown (QThread destroyed while running) after the result.
    os._exit(0)


def run(mode: str, seconds: float, cache: str = "off") -> dict:
    env = dict(os.environ)
    env["CONVSCOPE_COMPILE_CACHE"] = cache
    env["CONVSCOPE_BENCH_SPAWNED"] = repr(time.time())
    if mode == "launch":  # as installed (pip writes the .pyc files): no sources compiled at each launch
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("QT_QPA_PLATFORM", "offscreen" if not env.get("DISPLAY") else "xcb")
    out = subprocess.run([sys.executable, __file__, "--child", mode, "--seconds", str(seconds)],
                         env=env, capture_output=True, text=True, check=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def launches(rounds: int) -> None:
    """``rounds`` × (a launch on an empty compilation cache, then a second launch on what
    the first left in it): each phase's median, and the load around them."""
    import statistics
    import tempfile

    keys = ("imports_done_s", "window_built_s", "window_visible_s", "compiling_s", "model_ready_s")
    runs: dict[str, list[dict]] = {"cold": [], "warm": []}
    print(f"load before: {os.getloadavg()[0]:.2f}", flush=True)
    for r in range(rounds):
        with tempfile.TemporaryDirectory() as cache:
            for what in ("cold", "warm"):
                la = run("launch", 0, cache)
                runs[what].append(la)
                phases = "  ".join(f"{k[:-2]} {la.get(k, float('nan')):.2f}" for k in keys)
                print(f"[{r + 1}] {what}: {phases}", flush=True)
    for what, got in runs.items():
        med = {k: statistics.median(g[k] for g in got if k in g) for k in keys}
        phases = ", ".join(f"{k[:-2]} {v:.2f}" for k, v in med.items())
        print(f"launch, {what} (median of {len(got)}): window visible {med['window_visible_s']:.2f} s, "
              f"model compiled and ready {med['model_ready_s']:.2f} s  ({phases})")
    print(f"load after: {os.getloadavg()[0]:.2f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--launches", type=int, default=1, help="rounds of cold + warm launches (default 1)")
    ap.add_argument("--launch-only", action="store_true", help="only the launch times")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.seconds)
        return
    print(f"platform: {os.environ.get('QT_QPA_PLATFORM') or ('xcb' if os.environ.get('DISPLAY') else 'offscreen')}")
    for r in range(0 if args.launch_only else args.repeats):
        h = run("headless", args.seconds)
        g = run("gui", args.seconds)
        print(f"[{r + 1}] headless {h['examples_per_s']:,.0f} ex/s   window {g['examples_per_s']:,.0f} ex/s   "
              f"ratio {g['examples_per_s'] / h['examples_per_s']:.2f}   CPU per example: ratio "
              f"{h['cpu_ms_per_example'] / g['cpu_ms_per_example']:.2f} (headless/window; GUI thread "
              f"{g['gui_thread_cpu']:.0%} of a core)   stalls p50 {g['stall_p50_ms']:.1f} ms  "
              f"p99 {g['stall_p99_ms']:.1f} ms  max {g['stall_max_ms']:.0f} ms  (>100 ms: {g['stalls_over_100ms']})",
              flush=True)
    if args.launches > 0:
        launches(args.launches)


if __name__ == "__main__":
    main()
