"""The whole window on the real engine, training, through 20 switches of data set (3, 11
and 20 classes, gray and colour) and architecture in quick
succession; then it checks that the panels show the model that runs. Run as a script by
test_switch_stress.py, in a process of its own, so that a crash fails that test instead
of ending the test run. Prints one line ``RESULT {json}`` and exits 0 if it got there.

    python tests/ui/switch_stress_app.py TMPDIR [SWITCHES]
"""

from __future__ import annotations

import dataclasses
import faulthandler
import json
import logging
import os
import sys
import time

faulthandler.enable()  # a crash prints every thread's stack to stderr
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

# (classes, side, channels): few shapes, so that at most six models compile (3 sets × 2
# widths; a model met again is in JAX's cache), and the run stays short on two cores.
SETS = ((3, 12, 1), (11, 12, 3), (20, 12, 1))


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def write_sets(folder: str) -> list[str]:
    rng = np.random.default_rng(0)
    paths = []
    for k, side, c in SETS:
        x = rng.integers(0, 256, (k * 6, side, side, c), dtype=np.uint8)
        y = np.arange(k * 6) % k
        path = os.path.join(folder, f"set{k}.npz")
        np.savez(path, x_train=x, y_train=y, x_test=x[: 2 * k], y_test=y[: 2 * k])
        paths.append(path)
    return paths


def main(folder: str, switches: int) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from convscope.train.compile_cache import enable

    enable()  # as the app does: CONVSCOPE_COMPILE_CACHE, the test run's cache
    from pyqtgraph.util.garbage_collector import GarbageCollector

    from convscope.config import ArchSpec, ConvLayer, TrainConfig
    from convscope.data import Dataset
    from convscope.train.loop import TrainingLoop
    from convscope.ui.app import configure_app
    from convscope.ui.main_window import PANELS, MainWindow
    from convscope.ui.panels.dataset import loader_for
    from convscope.ui.panels.deepvis import DeepVisPanel
    from convscope.ui.panels.landscape import LandscapePanel

    configure_app(app)
    collector = GarbageCollector(interval=1.0)  # as the app does: collect on the GUI thread
    errors = _Errors()
    logging.getLogger("convscope").addHandler(errors)
    unexpected: list[str] = []
    sys.excepthook = lambda kind, exc, tb: unexpected.append(f"{kind.__name__}: {exc}")

    paths = write_sets(folder)
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (40, 12, 12, 1), dtype=np.uint8)
    y = (np.arange(40) % 3).astype(np.int32)
    data = Dataset("noise", x[:30], y[:30], x[30:], y[30:], ("a", "b", "c"), "noise")
    arch = ArchSpec(input_shape=(12, 12, 1), num_classes=3, convs=(ConvLayer(filters=4, kernel=3),), dense=(8,))
    # Every panel but the two whose probes compile most (they follow a model change as the
    # others do, and have their own tests): the run must stay short on two cores.
    panels = [p for p in PANELS if p not in (DeepVisPanel, LandscapePanel)]
    window = MainWindow(data, arch, TrainConfig(batch_size=8, eval_every=5), loop_factory=TrainingLoop,
                        panels=panels)  # fmt: skip
    window.resize(1600, 1000)
    window.show()
    session = window.session

    def spin(seconds: float, until=lambda: False) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end and not until():
            app.processEvents()
            time.sleep(0.005)
        return until()

    t0 = time.monotonic()
    if not spin(120, lambda: session.state == "paused"):
        print("the first model never became ready", flush=True)
        return 3
    for title in ("Evaluation", "Feature maps"):  # on screen: they compute as training runs
        window.docks[title].raise_()
    session.train()
    spin(0.5)
    loader = loader_for(session)
    for i in range(switches):
        if i % 3 == 2:  # an architecture change: the conv layer 4 or 6 filters wide
            filters = 6 if session.arch.convs[0].filters == 4 else 4
            session.reset(dataclasses.replace(session.arch, convs=(ConvLayer(filters=filters, kernel=3),)))
        else:
            loader.load(paths[i % len(paths)])
            spin(10, lambda: not loader.busy)
        spin(0.05 + 0.05 * (i % 3))
    switching_s = time.monotonic() - t0

    c = window.panels["Feature maps"].controller

    def settled() -> bool:
        snap, insp = c.snapshot, c.inspection
        return (
            session.state == "training"
            and snap is not None
            and snap.arch == session.arch
            and insp is not None
            and tuple(np.shape(insp.input)[:3]) == tuple(session.arch.input_shape)
        )

    ok = spin(90, settled)
    spin(0.5)  # the throttled redraws
    maps, filters, prediction = window.panels["Feature maps"], window.panels["Filters"], window.panels["Prediction"]
    taps = c.inspection.taps if c.inspection is not None else {}
    first_tap = next(iter(taps), "")
    kernels = np.shape(c.snapshot.params["conv1"]["w"]) if c.snapshot is not None else ()
    result = {
        "settled": ok,
        "state": session.state,
        "arch_input": list(session.arch.input_shape),
        "classes": session.arch.num_classes,
        "maps_label": maps.picker.itemText(0),
        "maps_expected": f"{first_tap} · {'×'.join(map(str, np.shape(taps[first_tap])))}" if first_tap else "",
        "filters_label": filters.picker.itemText(0),
        "filters_expected": f"conv1 · {kernels[3]} filters {kernels[0]}×{kernels[1]}×{kernels[2]}" if kernels else "",
        "prediction_bars": len(prediction.bars.opts["y"]),
        "prediction_brushes": len(prediction.bars.opts["brushes"] or ()),
        "notice": window.notice_label.text(),
        "errors": errors.messages,
        "unexpected": unexpected,
        "switching_s": round(switching_s, 1),
        "total_s": round(time.monotonic() - t0, 1),
    }
    window.close()
    collector.timer.stop()
    print("RESULT " + json.dumps(result), flush=True)
    sys.stdout.flush()
    sys.stderr.flush()
    # Loops and probes of abandoned models may still be compiling: leave without waiting
    # for them, as the app does at exit (ui/app.py).
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20))
