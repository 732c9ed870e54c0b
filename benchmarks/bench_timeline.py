"""Latency of scrubbing: from "the user moved the timeline to another snapshot" to "the
Feature-maps panel has redrawn with that step's weights", through the real path: the
Timeline reads the snapshot file (float16 weights, as runs keep them) on its loader
thread → InspectionController → inspection worker (Inspector.run) → panel redraw. The
Filters, Image and Prediction panels are live too.

    python benchmarks/bench_timeline.py            # offscreen Qt
    taskset -c 0,1 python benchmarks/bench_timeline.py   # a 2-core machine

Target (issue 15): one snapshot to the next redraws the image-driven panels in ≤ 100 ms.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def measure(app, name: str, arch, snapshots: int = 30) -> None:
    import jax
    import numpy as np

    from convscope.config import TrainConfig
    from convscope.model.network import init
    from convscope.train.checkpoint import Checkpoint, save_checkpoint
    from convscope.ui.panels.feature_maps import FeatureMapsPanel
    from convscope.ui.panels.filters import FiltersPanel
    from convscope.ui.panels.inspect_image import ImagePanel
    from convscope.ui.panels.prediction import PredictionPanel
    from convscope.ui.session import Session
    from convscope.ui.timeline import Timeline

    shape = arch.input_shape
    x = np.random.default_rng(0).integers(0, 256, (300, *shape), dtype=np.uint8)
    labels = np.zeros(300, np.int32)
    data = SimpleNamespace(
        name="random", image_shape=shape, num_classes=arch.num_classes,
        class_names=tuple(str(i) for i in range(arch.num_classes)),
        x_train=x, y_train=labels, x_val=x, y_val=labels,
    )  # fmt: skip
    norm = np.stack([np.full(shape[2], 0.4, np.float32), np.full(shape[2], 0.25, np.float32)])
    run = Path(tempfile.mkdtemp(prefix="bench-timeline-"))
    (run / "checkpoints").mkdir()
    for step in range(snapshots):
        params, state = jax.device_get(init(arch, step))
        save_checkpoint(run / "checkpoints" / f"step-{step:08d}.npz",
                        Checkpoint(arch, TrainConfig(), params, state, step, norm), half=True)
    session = Session(data, arch, TrainConfig(), loop_factory=None)  # the loop never starts
    timeline = Timeline(session, lambda: run)
    timeline.refresh()
    panels = [FeatureMapsPanel(session), PredictionPanel(session), ImagePanel(session), FiltersPanel(session)]
    for panel in panels:
        panel.resize(800, 500)
        panel.show()
    maps = panels[0]
    drawn: list[float] = []
    redraw = maps.redraw

    def timed_redraw() -> None:
        was_dirty = maps._dirty
        redraw()
        if was_dirty and not maps._dirty:
            drawn.append(time.perf_counter())

    maps.redraw = timed_redraw
    latencies = []
    for i, step in enumerate(timeline.steps):
        drawn.clear()
        t0 = time.perf_counter()
        timeline.show_step(step)
        while not drawn and time.perf_counter() - t0 < 10:
            app.processEvents()
            time.sleep(0.0005)
        if i >= 5 and drawn:  # the first ones compile
            latencies.append(1000 * (drawn[0] - t0))
        t = time.perf_counter()
        while time.perf_counter() - t < 0.1:
            app.processEvents()
            time.sleep(0.002)
    maps.controller.shutdown(timeout_s=5)
    if os.environ.get("BENCH_VERBOSE"):
        print("in order:", " ".join(f"{v:.0f}" for v in latencies))
    latencies.sort()
    print(
        f"{name}: timeline step → feature maps redrawn  median {statistics.median(latencies):.1f} ms  "
        f"p90 {latencies[int(0.9 * len(latencies))]:.1f} ms  max {latencies[-1]:.1f} ms  "
        f"(n={len(latencies)}, {os.cpu_count()} CPUs visible, affinity {len(os.sched_getaffinity(0))})"
    )


def main() -> None:
    from pyqtgraph.util.garbage_collector import GarbageCollector
    from PySide6.QtWidgets import QApplication

    from convscope.config import ArchSpec, ConvLayer
    from convscope.ui.app import configure_app

    app = QApplication(sys.argv[:1])
    configure_app(app)
    collector = GarbageCollector(interval=0.5)
    measure(app, "default 28×28×1", ArchSpec())
    cifar = ArchSpec(input_shape=(32, 32, 3), convs=(ConvLayer(32, 3, pool="none"), ConvLayer(32, 3),
                                                      ConvLayer(32, 3, pool="none"), ConvLayer(32, 3)))
    measure(app, "CIFAR-sized 32×32×3, 4 conv × 32", cifar)
    collector.timer.stop()


if __name__ == "__main__":
    main()
