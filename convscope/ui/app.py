"""Start the GUI: the QApplication, its look, the data set, the main window.

Environment variables for demos, tests and benchmarks:

* ``CONVSCOPE_AUTOTRAIN_SECONDS=N`` — press Train as soon as the model is ready and,
  N seconds after the first training metrics arrive, close the window and quit;
* ``CONVSCOPE_SCREENSHOT=path.png`` — with the above, save a grab of the main window
  to that path just before quitting;
* ``CONVSCOPE_SCREENSHOT_TABS="Feature maps,Filters"`` — with both, first raise each of
  these docks in turn and save a grab as ``path-feature-maps.png`` etc. (the main
  screenshot then shows the last one raised).

* ``CONVSCOPE_THEME=light|dark|system`` — the theme for this launch, whatever the
  preference (File ▸ Preferences…) says.

With ``CONVSCOPE_AUTOTRAIN_SECONDS`` set, the window opens in the default layout and
neither reads nor writes the user's settings (no last data set, no recent files);
otherwise it reopens as the user left it (View ▸ Reset Layout restores the default),
on the last data set unless one is named on the command line.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication, QMessageBox

from convscope.config import ArchSpec, TrainConfig
from convscope.ui import theme
from convscope.ui.app_icon import APP_ID, app_icon
from convscope.ui.layout_memory import app_settings
from convscope.ui.main_window import MainWindow
from convscope.ui.preferences import THEME_KEY
from convscope.ui.probe_runner import ProbeRunner
from convscope.ui.run_actions import mark_interrupted_runs, runs_root
from convscope.ui.tour import show_on_first_run
from convscope.ui.worker import wait_for_stragglers

if TYPE_CHECKING:
    from convscope.data import LoadOptions

log = logging.getLogger(__name__)

BASE_POINT_SIZE = 11  # readable from the back of a room on a projected 1600×1000 screen
AUTOTRAIN_TIMEOUT_S = 300.0  # give up waiting for the first metrics after this long
# After the window closed: the longest wait for the workers before the process leaves. The
# window's closeEvent took up to 0.3 s before; with the exit itself the process is gone
# within ~1 s of the close (benchmarks/bench_exit_time.py measures it; target 2 s).
EXIT_WAIT_S = 0.5
# How often Python gets control inside Qt's event loop, so that a signal's handler runs.
SIGNAL_TICK_MS = 200



def configure_app(app: QApplication) -> None:
    """Fonts, style sheet and pyqtgraph options shared by the app and the GUI tests: the
    light theme (white plots: dark ones wash out to grey on most projectors); the app
    then applies the theme preference (:mod:`convscope.ui.theme`)."""
    pg.setConfigOptions(antialias=True, imageAxisOrder="row-major")
    font = QFont(app.font())
    font.setPointSize(BASE_POINT_SIZE)
    app.setFont(font)
    theme.apply(app, theme.LIGHT)
    app.setApplicationName("ConvScope")
    app.setDesktopFileName(APP_ID)  # the .desktop file and icon the desktop matches the window to
    app.setWindowIcon(app_icon())


def default_arch(dataset: Any) -> ArchSpec:
    """The default small LeNet-style net, shaped for ``dataset``'s images and classes."""
    return ArchSpec(input_shape=tuple(dataset.image_shape), num_classes=int(dataset.num_classes))


def _install_autotrain(app: QApplication, window: MainWindow, seconds: float, screenshot: str) -> None:
    """Train as soon as the model is ready; after ``seconds`` of training, grab and quit."""
    bridge = window.session.bridge
    state: dict[str, Any] = {"done": False, "timing": False, "step": 0}

    def finish() -> None:
        if state["done"]:
            return
        state["done"] = True
        size = window.size()
        if screenshot:
            Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
            _grab_tabs(app, window, screenshot, os.environ.get("CONVSCOPE_SCREENSHOT_TABS", ""))
            if not window.grab().save(screenshot):
                log.error("could not save the screenshot to %s", screenshot)
        # One line for scripts and the end-to-end test.
        print(
            f"convscope: autotrain stopped at step {state['step']}, window {size.width()}x{size.height()}",
            flush=True,
        )
        window.close()
        app.quit()

    def on_metrics(event: Any) -> None:
        state["step"] = event.step
        if not state["timing"]:
            state["timing"] = True
            QTimer.singleShot(int(seconds * 1000), finish)

    bridge.started.connect(lambda _e: window.session.train())
    bridge.stepped.connect(on_metrics)
    bridge.errored.connect(lambda _e: QTimer.singleShot(500, finish))
    QTimer.singleShot(int((AUTOTRAIN_TIMEOUT_S + seconds) * 1000), finish)


SCREENSHOT_WAIT_S = 120.0  # longest wait for a panel's probes before its grab


def _grab_tabs(app: QApplication, window: MainWindow, screenshot: str, titles: str) -> None:
    """Raise each dock named in ``titles`` (comma-separated) and save a grab of it."""
    import time

    base = Path(screenshot)
    for title in (t.strip() for t in titles.split(",") if t.strip()):
        dock = window.docks.get(title)
        if dock is None:
            log.error("CONVSCOPE_SCREENSHOT_TABS: no panel called %r", title)
            continue
        dock.show()
        dock.raise_()
        # Its throttled redraw and the paint that follow, and the background probes a
        # newly shown panel starts (deep visualization, landscape, evaluation).
        start = time.monotonic()
        settled_at = None
        while time.monotonic() - start < SCREENSHOT_WAIT_S:
            app.processEvents()
            time.sleep(0.02)
            busy = any(r.busy for r in window.findChildren(ProbeRunner))
            busy = busy or any(r.busy for r in window.session.findChildren(ProbeRunner))
            if busy or time.monotonic() - start < 0.6:
                settled_at = None
            elif settled_at is None:
                settled_at = time.monotonic()
            elif time.monotonic() - settled_at > 0.6:
                break
        slug = "-".join(title.lower().split())
        path = base.with_name(f"{base.stem}-{slug}{base.suffix}")
        if not window.grab().save(str(path)):
            log.error("could not save the screenshot to %s", path)


def _wait_for_workers(timeout_s: float) -> list[str]:
    """Wait up to ``timeout_s`` in all for the training loop and the probe and inspection
    threads (told to stop when the window closed); the names of those still busy."""
    import threading
    import time

    deadline = time.monotonic() + timeout_s
    busy = [] if wait_for_stragglers(timeout_s) else ["the training loop"]
    for thread in threading.enumerate():
        if thread.name.startswith("convscope-") and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                busy.append(thread.name)
    return busy


def leave(code: int) -> NoReturn:
    """End the process now that the window has closed: within ~1 s, whatever still runs.

    A worker may be inside an XLA call (a compile, a grid row) that nothing can
    interrupt, and Python's own teardown with JAX loaded takes 1–2 s more — and aborts
    ("terminate called…", "QThread: Destroyed while thread is still running") when a
    thread is still inside XLA. So the workers get a bounded wait, and then the process
    leaves with ``os._exit`` after flushing its output. Nothing is lost: checkpoints are
    written whole (temporary file, then rename) when saved, never at exit; so whatever
    else is kept between launches must be written when the window closes (closeEvent),
    not by a destructor or an atexit handler, which ``os._exit`` skips.
    """
    busy = _wait_for_workers(EXIT_WAIT_S)
    if busy:
        log.info("leaving while %s still compute (nothing of theirs is kept)", ", ".join(busy))
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or broken: nothing more to say there
            pass
    os._exit(code)


def _close_on_sigint(app: QApplication, window: MainWindow) -> Any:
    """Ctrl+C in the terminal (SIGINT) closes the window as Ctrl+Q does, and the process
    ends the same way. Python runs a signal's handler only between its own bytecodes,
    never while Qt's C++ event loop waits, so a timer hands it control every 200 ms.
    Returns the previous handler (None off the main thread, where none is installed)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def on_sigint(_signum: int, _frame: Any) -> None:
        log.info("SIGINT: closing the window")
        QTimer.singleShot(0, window.close)

    previous = signal.signal(signal.SIGINT, on_sigint)
    tick = QTimer(app)
    tick.timeout.connect(lambda: None)
    tick.start(SIGNAL_TICK_MS)
    return previous


def _install_excepthook(window: MainWindow) -> None:
    """An exception escaping a slot becomes a message in the window and the log.

    PySide only prints such exceptions; a user would see nothing, or a frozen panel.
    """

    def hook(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
        log.error("unexpected error", exc_info=(kind, exc, tb))
        if isinstance(exc, KeyboardInterrupt):
            QApplication.quit()
            return
        try:
            window.show_error("Unexpected error", f"{kind.__name__}: {exc}")
        except RuntimeError:  # the window is already gone
            pass

    sys.excepthook = hook


def run_gui(
    dataset_path: str | None = None, checkpoint: str | None = None, options: LoadOptions | None = None,
    runs: str | None = None, follow: str | None = None,
) -> int:
    """Open the ConvScope window; returns the process exit code when the data set is
    unusable (2). Once the window has been open, the process ends here when it closes
    (:func:`leave`), within about a second whatever its workers were doing.

    ``options`` (validation split, image-folder image size) load the first data set and
    are what the Data panel starts with for the next."""
    from convscope.data import DataError, LoadOptions, load_dataset
    from convscope.train.compile_cache import enable

    enable()  # a second launch reads the compiled model back instead of compiling it
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    configure_app(app)
    options = options or LoadOptions()
    seconds = os.environ.get("CONVSCOPE_AUTOTRAIN_SECONDS", "")
    settings = None if seconds else app_settings()  # demos and screenshots leave no trace
    saved_theme = settings.value(THEME_KEY, theme.SYSTEM) if settings is not None else theme.SYSTEM
    theme.follower(app).set_choice(theme.env_choice() or str(saved_theme))  # before the plots are made
    # Every training is a run under the runs root (demos record only where --runs says).
    root = runs_root(runs, settings) if runs or not seconds else None
    try:
        dataset = load_dataset(
            dataset_path, val_fraction=options.val_fraction, seed=options.seed, image_size=options.image_size
        )
        arch = default_arch(dataset)
    except (DataError, OSError, ValueError) as exc:
        QMessageBox.critical(None, "ConvScope: cannot open the data set", str(exc))
        return 2
    # Python's cycle collector runs in whichever thread happens to allocate; were that
    # the training or inspection worker, Qt objects in the garbage would be destroyed
    # off the GUI thread (Qt aborts or warns "Timers cannot be stopped from another
    # thread"). Collect on a GUI-thread timer instead (pyqtgraph's helper).
    from pyqtgraph.util.garbage_collector import GarbageCollector

    collector = GarbageCollector(interval=1.0)
    window = MainWindow(dataset, arch, TrainConfig(), load_options=options, runs_root=root, settings=settings)
    window.window_layout.place_on(app.primaryScreen())
    if theme.current() != theme.LIGHT:  # the panels draw for white; their ink for dark
        theme.restyle_plots(theme.current())
    if settings is not None:  # demos and screenshots start from the default layout
        window.window_layout.remember(settings)
    if root is not None:
        mark_interrupted_runs(root)
    if dataset_path:  # what the next launch reopens, unless a data set is named again
        window.recent.note_dataset(dataset_path, options)
    elif not checkpoint and not follow:
        window.recent.reopen_last()  # a set that no longer opens: a notice, and the digits
    window.show()
    show_on_first_run(window, settings)  # the tour, once per user (demo runs have no settings)
    previous_hook = sys.excepthook
    _install_excepthook(window)
    previous_sigint = _close_on_sigint(app, window)
    if checkpoint:
        window.open_checkpoint(checkpoint)
    if follow:
        window.runs.follow(follow)

    if seconds:
        try:
            _install_autotrain(app, window, float(seconds), os.environ.get("CONVSCOPE_SCREENSHOT", ""))
        except ValueError:
            log.error("CONVSCOPE_AUTOTRAIN_SECONDS must be a number of seconds, got %r", seconds)
    try:
        code = app.exec()
    finally:
        sys.excepthook = previous_hook
        if previous_sigint is not None:
            signal.signal(signal.SIGINT, previous_sigint)
        window.session.shutdown(timeout_s=0.0)  # closeEvent asked already; this is for an exception
        collector.timer.stop()
    leave(int(code))
