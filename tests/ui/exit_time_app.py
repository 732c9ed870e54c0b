"""The real app (``ui.app.run_gui``), offscreen, on a small .npz: wait until the work of
``MODE`` runs, close the window, and let the process end as it does for a user. Run by
test_exit_time.py, which times the process from the close to its end. Prints
``CLOSING <time.time()>`` just before the window is closed.

    python tests/ui/exit_time_app.py MODE DATA.npz

MODE: ``compiling`` (the first model is still compiling: XLA cannot be interrupted),
``busy`` (training, the loss landscape and deep visualization all computing),
``applied`` (just after Apply of a larger architecture, which compiles),
``large`` (that larger model training, its inspection threads busy or waiting),
``sigint`` (as ``busy``, but the window is not closed here: ``READY <time>`` is printed
and the test sends SIGINT to the process, which must close the window as Ctrl+Q does).

An ``atexit`` handler prints ``PYTHON-TEARDOWN``: the app must never get there, since it
leaves with ``os._exit`` (Python's own teardown with JAX loaded takes 1–2 s, and aborts
while a thread is inside XLA). ``run_mode`` runs this script and times it; the test and
``benchmarks/bench_exit_time.py`` both use it.
"""

from __future__ import annotations

import atexit
import faulthandler
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

GIVE_UP_S = 90.0  # the work never started: close anyway (the test then fails on the output)
MODES = ("compiling", "busy", "applied", "large", "sigint")
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Ended:
    """How one run of this script ended: ``elapsed`` from the close (or SIGINT) to the
    process's end, in seconds; ``what`` the CLOSING line's reason."""

    elapsed: float | None
    what: str
    returncode: int
    out: str
    err: str


def small_npz(path: Path) -> Path:
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (90, 12, 12, 1), dtype=np.uint8)
    y = np.arange(90) % 3
    np.savez(path, x_train=x[:60], y_train=y[:60], x_test=x[60:], y_test=y[60:])
    return path


def run_mode(mode: str, folder: Path) -> Ended:
    """Run this script in ``mode`` on a small data set in ``folder``; time the close."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    args = [sys.executable, str(Path(__file__)), mode, str(small_npz(folder / "small.npz"))]
    closed_at, what = None, ""
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                          cwd=ROOT) as proc:  # fmt: skip
        assert proc.stdout is not None and proc.stderr is not None
        for line in proc.stdout:  # up to the close
            if line.startswith("CLOSING "):
                closed_at, what = float(line.split()[1]), line.split(maxsplit=2)[2].strip()
                break
            if line.startswith("READY "):
                closed_at, what = time.time(), "SIGINT"
                proc.send_signal(signal.SIGINT)
                break
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        ended_at = time.time()
        out, err = proc.stdout.read(), proc.stderr.read()
    elapsed = None if closed_at is None else ended_at - closed_at
    return Ended(elapsed, what, proc.returncode, out, err)


def drive(app: QApplication, mode: str) -> None:
    from convscope.config import ArchSpec, ConvLayer
    from convscope.probes.deepvis import ActMaxSettings
    from convscope.ui.inspection import InspectionController
    from convscope.ui.main_window import MainWindow

    t0 = time.monotonic()
    state = {"pressed": False, "applied": False}
    app.aboutToQuit.connect(lambda: print("QUITTING", flush=True))

    def close(window: MainWindow, what: str) -> None:
        print(f"CLOSING {time.time():.3f} {what}", flush=True)
        window.close()

    def tick() -> None:
        windows = [w for w in app.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if not windows:
            QTimer.singleShot(20, tick)
            return
        window = windows[0]
        session = window.session
        if time.monotonic() - t0 > GIVE_UP_S:
            close(window, "gave up waiting")
            return
        if mode == "compiling":
            if session.state == "compiling":
                close(window, "compiling")
                return
        elif mode in ("applied", "large"):
            if session.state == "paused" and not state["pressed"]:
                state["pressed"] = True
                session.train()
            elif session.state == "training" and not state["applied"]:
                state["applied"] = True  # the architecture editor's Apply: a larger model
                session.reset(ArchSpec(input_shape=session.arch.input_shape, num_classes=session.arch.num_classes,
                                       convs=(ConvLayer(filters=128), ConvLayer(filters=256)), dense=(512,)))
                if mode == "applied":
                    close(window, "right after Apply")
                    return
            elif state["applied"] and session.state == "training" and session.arch.dense == (512,):
                inspection = window.session.findChild(InspectionController)
                if inspection is not None and len(inspection._workers) == 2:  # noqa: SLF001
                    close(window, "the larger model training, inspection running")
                    return
        elif session.state == "paused" and not state["pressed"]:
            state["pressed"] = True
            session.train()
            for title in ("Loss landscape", "Deep visualization"):  # both on screen at once
                window.docks[title].setFloating(True)
                window.docks[title].show()
            # Long jobs, so that both still run when the window closes, even on a slow machine.
            window.panels["Deep visualization"].controls.set_settings(ActMaxSettings(steps=5000, progress_every=8))
            window.panels["Loss landscape"].controls.resolution.setValue(51)
            window.panels["Loss landscape"].compute()
        elif state["pressed"]:
            landscape, deepvis = window.panels["Loss landscape"], window.panels["Deep visualization"]
            if session.state == "training" and landscape.runner.busy and deepvis.runner.busy:
                if mode == "sigint":  # the test sends it; nothing more to do here
                    print(f"READY {time.time():.3f}", flush=True)
                    return
                close(window, "training, landscape and deep visualization running")
                return
        QTimer.singleShot(20, tick)

    QTimer.singleShot(0, tick)


def main(mode: str, data: str) -> int:
    faulthandler.enable()
    atexit.register(lambda: print("PYTHON-TEARDOWN", flush=True))
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from convscope.ui.app import run_gui

    drive(app, mode)
    return run_gui(data)  # ends the process once the window has closed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
