"""Take the README's pictures of the probe panels from the real app, training for real.

Run under Xvfb so that the window is drawn as on a desktop::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python docs/screenshots.py [--seconds 45] [--out docs]

The window (1600×1000) trains the default model on the built-in digits with the Loss
landscape panel raised and following training on the PCA plane of the path; after
``--seconds`` it pauses (so the last grid refines to the end) and saves, each once its
background computations have settled: ``landscape.png``, ``deepvis.png`` (channel 5 of
the last conv block opened large), ``evaluation.png`` (one class against the rest, the
lowest F1, with its galleries) and ``data.png``; ``screenshot.png`` (feature maps raised),
the panels ``feature-maps``, ``filters``, ``activations``, ``kernel-playground``,
``image`` and ``prediction`` as their docks show them, and ``deepvis-large.png``, the
large view one click on a channel opens. ``--theme dark`` takes them in the dark theme,
each name with ``-dark`` before ``.png``. (The README's ``screenshot-dark.png`` is the
app's own grab: ``CONVSCOPE_THEME=dark CONVSCOPE_AUTOTRAIN_SECONDS=8
CONVSCOPE_SCREENSHOT=docs/screenshot-dark.png CONVSCOPE_SCREENSHOT_TABS="Feature maps"``,
the ``-feature-maps`` grab, at 1600×1000.)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's convscope


def settle(app, window, longest_s: float = 180.0) -> None:
    """Process events until no probe runner of the window has been busy for 1 s."""
    from convscope.ui.probe_runner import ProbeRunner

    start = time.monotonic()
    quiet_since = None
    while time.monotonic() - start < longest_s:
        app.processEvents()
        time.sleep(0.02)
        runners = window.findChildren(ProbeRunner) + window.session.findChildren(ProbeRunner)
        if any(r.busy for r in runners) or time.monotonic() - start < 1.0:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 1.0:
            return
    print(f"screenshots: probes still busy after {longest_s:.0f} s; grabbing anyway", file=sys.stderr)


def wait(app, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def raise_dock(app, window, title: str):
    dock = window.docks[title]
    dock.show()
    dock.raise_()
    wait(app, 0.5)
    return window.panels[title]


def save(window, path: Path) -> None:
    if not window.grab().save(str(path)):
        raise SystemExit(f"screenshots: could not write {path}")
    print(f"wrote {path}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=45.0, help="seconds of training before the pictures")
    ap.add_argument("--out", default=str(ROOT / "docs"), help="folder to write the PNGs into")
    ap.add_argument("--theme", choices=("light", "dark"), default="light", help="the theme to take them in")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    suffix = "" if args.theme == "light" else f"-{args.theme}"

    def grab(widget, path: Path) -> None:
        save(widget, path.with_name(f"{path.stem}{suffix}{path.suffix}"))

    from PySide6.QtWidgets import QApplication

    from convscope.config import ArchSpec, TrainConfig
    from convscope.data import builtin_mnist
    from convscope.ui import theme
    from convscope.ui.app import configure_app
    from convscope.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    configure_app(app)
    theme.apply(app, args.theme)
    window = MainWindow(builtin_mnist(), ArchSpec(), TrainConfig())
    theme.restyle_plots(args.theme)  # the panels draw for white
    window.resize(1600, 1000)
    window.show()
    wait(app, 1.0)  # the window arranges its docks once shown
    landscape = raise_dock(app, window, "Loss landscape")
    controls = landscape.controls
    controls.kind.setCurrentIndex(controls.kind.findData("pca"))
    controls.follow.setChecked(True)
    started = []
    window.session.bridge.started.connect(lambda _e: (started.append(1), window.session.train()))
    deadline = time.monotonic() + 120
    while not started and time.monotonic() < deadline:
        wait(app, 0.1)
    if not started:
        raise SystemExit("screenshots: the model did not compile within 120 s")
    wait(app, args.seconds)
    window.session.pause()
    settle(app, window)
    grab(window, out / "landscape.png")

    # The inside-the-layers panels: the whole window with the feature maps raised, and
    # each panel on its own as its dock shows it.
    raise_dock(app, window, "Feature maps")
    settle(app, window)
    grab(window, out / "screenshot.png")
    for title, name in (("Feature maps", "feature-maps"), ("Filters", "filters"),
                        ("Activations", "activations"), ("Kernel playground", "kernel-playground"),
                        ("Image", "image"), ("Prediction", "prediction")):  # fmt: skip
        raise_dock(app, window, title)
        settle(app, window)
        grab(window.docks[title], out / f"{name}.png")

    deepvis = raise_dock(app, window, "Deep visualization")
    settle(app, window)
    deepvis.select_channel(5)
    settle(app, window)
    grab(window, out / "deepvis.png")
    deepvis.open_large(5)  # what one click on a tile opens
    settle(app, window)
    grab(deepvis.large, out / "deepvis-large.png")
    deepvis.large.close()

    evaluation = raise_dock(app, window, "Evaluation")
    evaluation.refresh()
    settle(app, window)
    evaluation.tabs.setCurrentIndex(1)
    settle(app, window)
    grab(window, out / "evaluation.png")

    raise_dock(app, window, "Data")
    settle(app, window)
    grab(window, out / "data.png")
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
