"""The one selection of runs that the Runs table, the HParams view and the Training
panel's overlay share: which runs are listed, which are selected (and their colours),
the text filter and the axis brushes that hide runs everywhere, and the run under the
pointer. Views change it through its methods and redraw on its signals; none of them
talks to another.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QObject, Qt, Signal

from convscope.runs import RunSummary
from convscope.viz.parallel_coords import Brush, passes_brushes

# Paul Tol's muted scheme (colour-blind safe; its pale sand last), ordered so that the
# first runs are the most distinct, then black. None is the live run's blue or orange
# (Training panel), so a stored run is never mistaken for the one training now.
PALETTE = ("#332288", "#44AA99", "#CC6677", "#999933", "#AA4499", "#88CCEE", "#117733", "#882255",
           "#000000", "#DDCC77")

def run_key(run: RunSummary) -> str:
    """A run's identity in the views: its directory (ids may repeat in copied folders)."""
    return str(run.dir)


def haystack(run: RunSummary) -> str:
    """What the text filter searches: name, id, tags, data, architecture, status."""
    status = f"damaged: {run.damaged}" if run.damaged else run.status
    return " ".join([run.name, run.id, " ".join(run.tags), run.data, run.arch, status]).lower()


class RunSelection(QObject):
    """Shared state of the comparison views (see the module's docstring)."""

    runs_changed = Signal()  # runs were added, removed or re-read
    selection_changed = Signal()
    filter_changed = Signal()  # the text filter or a brush changed: what passes did
    hovered_changed = Signal(str)  # a run's key, "" when none

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runs: dict[str, RunSummary] = {}
        self.selected: list[str] = []  # in the order they were selected
        self.colors: dict[str, str] = {}
        self.brushes: dict[str, Brush] = {}
        self.text = ""
        self.hovered = ""
        self._haystacks: dict[str, str] = {}

    # ---------------------------------------------------------------- runs
    def set_runs(self, runs: Iterable[RunSummary]) -> None:
        self.runs = {run_key(r): r for r in runs}
        self._haystacks = {k: haystack(r) for k, r in self.runs.items()}
        gone = [k for k in self.selected if k not in self.runs]
        self.runs_changed.emit()
        if gone:
            self.select([k for k in self.selected if k in self.runs])
        if self.hovered and self.hovered not in self.runs:
            self.set_hovered("")

    # ---------------------------------------------------------------- selection
    def select(self, keys: Iterable[str]) -> None:
        """Make ``keys`` the selection (runs not listed are ignored)."""
        keys = list(dict.fromkeys(k for k in keys if k in self.runs))
        if keys == self.selected:
            return
        self.selected = keys
        for k in list(self.colors):
            if k not in keys:
                del self.colors[k]
        for k in keys:
            if k not in self.colors:
                used = list(self.colors.values())
                free = [c for c in PALETTE if c not in used]
                self.colors[k] = free[0] if free else PALETTE[len(used) % len(PALETTE)]
        self.selection_changed.emit()

    def toggle(self, key: str) -> None:
        self.select([k for k in self.selected if k != key] if key in self.selected else [*self.selected, key])

    def color(self, key: str) -> str:
        return self.colors.get(key, "")

    # ---------------------------------------------------------------- filtering
    def set_text(self, text: str) -> None:
        text = text.strip().lower()
        if text != self.text:
            self.text = text
            self.filter_changed.emit()

    def set_brush(self, axis: str, brush: Brush | None) -> None:
        if brush is None:
            if self.brushes.pop(axis, None) is None:
                return
        elif self.brushes.get(axis) == brush:
            return
        else:
            self.brushes[axis] = brush
        self.filter_changed.emit()

    def clear_brushes(self) -> None:
        if self.brushes:
            self.brushes.clear()
            self.filter_changed.emit()

    def passes_text(self, key: str) -> bool:
        """Whether the run passes the text filter (every word in its name, tags, …)."""
        return key in self.runs and all(word in self._haystacks[key] for word in self.text.split())

    def passes(self, key: str) -> bool:
        """Whether the run passes the text filter and every brush (is shown everywhere)."""
        return self.passes_text(key) and passes_brushes(self.runs[key], self.brushes)

    def shown(self) -> list[str]:
        return [k for k in self.runs if self.passes(k)]

    def shown_selected(self) -> list[str]:
        return [k for k in self.selected if self.passes(k)]

    # ---------------------------------------------------------------- hover
    def set_hovered(self, key: str) -> None:
        if key != self.hovered:
            self.hovered = key
            self.hovered_changed.emit(key)


def selection_for(owner: QObject) -> RunSelection:
    """The RunSelection of ``owner`` (the session), created on first use."""
    found = owner.findChild(RunSelection, options=Qt.FindChildOption.FindDirectChildrenOnly)
    if found is None:
        found = RunSelection(owner)
    return found

