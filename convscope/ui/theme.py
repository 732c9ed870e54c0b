"""Light and dark: the widgets' palette and style sheet, and every plot's ink.

The theme is a choice — "system" (follow the desktop's colour scheme, Qt 6.5+), "light"
or "dark" — resolved to a scheme, light or dark. :func:`apply` sets the Fusion style and
a palette for that scheme, the style sheet with the scheme's colours, pyqtgraph's default
background and foreground for plots made later, and restyles the plots already drawn:
their backgrounds, axes, labels, legends and text, and the curves whose colours would not
stand out on a dark background. Image colour maps are never touched, nor is anything
drawn over an image (contours, markers): the image's colours stay what they mean.

Plots keep their light colours as the originals (the panels define them for white), so
switching back and forth never drifts. A panel that makes items later (markers, overlay
curves) takes its colours through :func:`plot_color`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QWidget

SYSTEM, LIGHT, DARK = "system", "light", "dark"
CHOICES = (SYSTEM, LIGHT, DARK)
LABELS = {SYSTEM: "System", LIGHT: "Light", DARK: "Dark"}
ENV = "CONVSCOPE_THEME"  # forces a choice for demos and screenshots (overrides the preference)
_COLOR_IN_HTML = re.compile(r"(color:\s*)(#[0-9a-fA-F]{3,8})")  # a legend row's coloured glyphs
MIN_CONTRAST = 3.0  # WCAG's ratio for graphics and large text, against the plot background


@dataclass(frozen=True)
class Ink:
    """A scheme's colours: plots (background, text, axes) and the widgets' style sheet."""

    background: str
    text: str
    legend: str  # the legend's box, translucent over the curves (pyqtgraph's #RRGGBBAA)
    button: str
    button_hover: str
    button_border: str
    button_disabled: str
    disabled_text: str
    dock_title: str
    info: str
    warning: str
    warning_bg: str
    pending: str
    ok: str
    error: str
    muted: str
    formulas: str


INKS = {
    LIGHT: Ink(
        background="#ffffff", text="#222222", legend="#ffffffc8",
        button="#f4f4f4", button_hover="#e3eefa", button_border="#b0b0b0", button_disabled="#fafafa",
        disabled_text="#9a9a9a", dock_title="#e8e8e8", info="#1b5e20", warning="#7a4a00",
        warning_bg="#fff3cd", pending="#b26a00", ok="#2e7d32", error="#c62828", muted="#4a4a4a",
        formulas="#333333",
    ),
    DARK: Ink(
        background="#1c1d20", text="#e8e8e8", legend="#202124c8",
        button="#3a3c40", button_hover="#2f4a66", button_border="#5c5f66", button_disabled="#2a2b2e",
        disabled_text="#707070", dock_title="#2e3034", info="#8fd694", warning="#ffe08a",
        warning_bg="#4a3b00", pending="#ffb74d", ok="#8fd694", error="#ff8a80", muted="#b0b0b0",
        formulas="#d0d0d0",
    ),
}

STYLE_SHEET = """
QToolBar#runToolbar {{ spacing: 6px; padding: 4px; }}
QToolBar#runToolbar QToolButton {{
    font-size: 13pt; font-weight: bold; padding: 6px 16px; min-width: 90px;
    border: 1px solid {button_border}; border-radius: 5px; background: {button};
}}
QToolBar#runToolbar QToolButton:hover {{ background: {button_hover}; }}
QToolBar#runToolbar QToolButton:disabled {{
    color: {disabled_text}; background: {button_disabled}; border-color: {button_border};
}}
QLabel#notice {{ padding: 4px 10px; font-size: 12pt; }}
QLabel#notice[level="info"] {{ color: {info}; }}
QLabel#notice[level="warning"] {{ color: {warning}; background: {warning_bg}; border-radius: 4px; }}
QLabel#notice[level="error"] {{ color: #ffffff; background: #c62828; border-radius: 4px; }}
QLabel#runState {{ font-weight: bold; }}
QLabel#runState[state="compiling"] {{ color: {pending}; }}
QLabel#runState[state="training"] {{ color: {ok}; }}
QLabel#runState[state="failed"] {{ color: {error}; }}
QLabel#sliderValue {{ font-weight: bold; font-family: monospace; }}
QLabel#trainingSummary {{ font-size: 13pt; padding: 2px; }}
QLabel#panelHeading {{ font-size: 12pt; font-weight: bold; padding: 2px; }}
QLabel#formulas {{ color: {formulas}; padding: 4px; }}
QLabel#errorText, QLabel[kind="error"] {{ color: {error}; font-weight: bold; }}
QLabel[kind="pending"] {{ color: {pending}; font-weight: bold; }}
QLabel[kind="ok"] {{ color: {ok}; }}
QLabel[kind="hint"] {{ color: {muted}; }}
QPushButton#applyButton {{ font-weight: bold; padding: 6px 12px; }}
QDockWidget {{ font-size: 12pt; }}
QDockWidget::title {{ padding: 4px 8px; background: {dock_title}; }}
QStatusBar {{ font-size: 11pt; }}
"""


def style_sheet(scheme: str) -> str:
    """The application's style sheet in ``scheme``'s colours."""
    return STYLE_SHEET.format(**INKS[scheme].__dict__)


def env_choice() -> str | None:
    """``CONVSCOPE_THEME`` (system, light or dark), or None when unset or unknown."""
    value = os.environ.get(ENV, "").strip().lower()
    return value if value in CHOICES else None


def system_scheme() -> str:
    """The desktop's colour scheme (light when the platform does not say)."""
    hints = QGuiApplication.styleHints()
    return DARK if hints.colorScheme() == Qt.ColorScheme.Dark else LIGHT


def resolve(choice: str) -> str:
    """The scheme a choice means now: "light" or "dark"."""
    return system_scheme() if choice == SYSTEM else (DARK if choice == DARK else LIGHT)


_scheme = LIGHT  # the scheme applied last (app-wide, like the palette it mirrors)


def current() -> str:
    return _scheme


def ink() -> Ink:
    return INKS[_scheme]


def palette(scheme: str) -> QPalette:
    """Fusion's palette for ``scheme`` (Qt's standard light one, or a dark one)."""
    if scheme == LIGHT:
        from PySide6.QtWidgets import QStyleFactory

        style = QStyleFactory.create("Fusion")
        return style.standardPalette()
    p = QPalette()
    role, group = QPalette.ColorRole, QPalette.ColorGroup
    base, window, text = QColor("#1e1f22"), QColor("#2b2d30"), QColor("#e8e8e8")
    for r, c in (
        (role.Window, window), (role.WindowText, text), (role.Base, base), (role.AlternateBase, QColor("#26282b")),
        (role.ToolTipBase, QColor("#3a3c40")), (role.ToolTipText, text), (role.Text, text),
        (role.Button, QColor("#3a3c40")), (role.ButtonText, text), (role.BrightText, QColor("#ff6b6b")),
        (role.Link, QColor("#8ab4f8")), (role.Highlight, QColor("#3d6fb4")), (role.HighlightedText, QColor("#ffffff")),
        (role.PlaceholderText, QColor("#8a8a8a")), (role.Light, QColor("#505357")), (role.Midlight, QColor("#404346")),
        (role.Mid, QColor("#303235")), (role.Dark, QColor("#1a1b1d")), (role.Shadow, QColor("#000000")),
    ):
        p.setColor(r, c)
    for r in (role.WindowText, role.Text, role.ButtonText):
        p.setColor(group.Disabled, r, QColor("#6f7276"))
    return p


# ------------------------------------------------------------------ plot colours
def _luminance(c: QColor) -> float:
    def lin(v: float) -> float:
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    return 0.2126 * lin(c.redF()) + 0.7152 * lin(c.greenF()) + 0.0722 * lin(c.blueF())


def contrast(a: QColor, b: QColor) -> float:
    """WCAG contrast ratio of two colours (1 … 21)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def plot_color(color: object, scheme: str | None = None) -> QColor:
    """``color`` (as drawn for white) as it is drawn in ``scheme`` (default: the current
    one): unchanged in light; in dark, greys mirrored (dark text becomes light) and
    colours lightened, hue kept, until they stand out against the dark background."""
    c = pg.mkColor(color)
    if (scheme or _scheme) == LIGHT:
        return c
    h, s, lightness, a = c.getHslF()
    if s < 0.15 or h < 0:  # a grey: dark ink becomes light ink (light ink stays: idempotent)
        return QColor.fromHslF(max(h, 0.0), s, 1.0 - lightness, a) if lightness < 0.5 else c
    bg = QColor(INKS[DARK].background)
    while contrast(c, bg) < MIN_CONTRAST and lightness < 0.95:
        lightness = min(0.95, lightness + 0.04)
        c = QColor.fromHslF(h, s, lightness, a)
    return c


def _remember(item: object, key: str, value: object) -> object:
    """The item's light-scheme original for ``key`` (taken the first time it is asked)."""
    originals = item.__dict__.setdefault("_light_originals", {})
    if key not in originals:
        originals[key] = value
    return originals[key]


def adopt(item: object, renewed: bool = False) -> object:
    """An item a panel made (or recoloured, ``renewed``) in its light colours, drawn in
    the current scheme and restyled with the others from now on. Returns the item."""
    if renewed:
        item.__dict__.pop("_light_originals", None)
    if _scheme != LIGHT or renewed or "_light_originals" in getattr(item, "__dict__", {}):
        restyle_item(item, _scheme)
    return item


def adopt_tree(item: object) -> None:
    """:func:`adopt` an item and everything drawn inside it: a plot put back into a
    scene (the theme may have changed while it was out of it)."""
    adopt(item)
    for child in item.childItems():  # type: ignore[attr-defined]
        adopt_tree(child)


def _over_image(item: pg.GraphicsObject) -> bool:
    view = item.getViewBox() if hasattr(item, "getViewBox") else None
    if view is None or not hasattr(view, "addedItems"):
        return False
    return any(isinstance(i, pg.ImageItem) for i in view.addedItems)


def _pen(pen: object, scheme: str) -> object:
    if pen is None:
        return None
    p = pg.mkPen(pen)
    if p.style() == Qt.PenStyle.NoPen:
        return p
    p.setColor(plot_color(p.color(), scheme))
    return p


def restyle_item(item: object, scheme: str) -> None:
    """One graphics item's ink in ``scheme`` (from its light originals)."""
    k = INKS[scheme]
    if isinstance(item, pg.AxisItem):
        if item._pen is not None:
            item.setPen(_pen(_remember(item, "pen", pg.mkPen(item._pen)), scheme))
        if item._textPen is not None:
            item.setTextPen(_pen(_remember(item, "text", pg.mkPen(item._textPen)), scheme))
        item.label.setDefaultTextColor(item.textPen().color())
        item.picture = None
        item.update()
    elif isinstance(item, pg.LegendItem):
        item.setLabelTextColor(k.text)
        brush = _remember(item, "brush", pg.mkBrush(item.opts["brush"]))
        item.setBrush(brush if scheme == LIGHT else pg.mkBrush(k.legend))
        item.setPen(_pen(_remember(item, "pen", pg.mkPen(item.opts["pen"])), scheme))
    elif isinstance(item, pg.LabelItem):
        color = _remember(item, "color", item.opts.get("color"))
        state = item.__dict__.setdefault("_light_text", ["", None])  # [light text, text drawn from it]
        if item.text != state[1]:  # the panel wrote it anew, in its light colours
            state[0] = item.text
        text = _COLOR_IN_HTML.sub(lambda m: m.group(1) + plot_color(m.group(2), scheme).name(), state[0])
        item.setText(text, color=None if color is None else plot_color(color, scheme))
        state[1] = item.text
    elif isinstance(item, pg.TextItem):
        if not _over_image(item):
            item.setColor(plot_color(_remember(item, "color", QColor(item.color)), scheme))
    elif isinstance(item, pg.InfiniteLine):
        if not _over_image(item):
            item.setPen(_pen(_remember(item, "pen", pg.mkPen(item.pen)), scheme))
    elif isinstance(item, pg.PlotDataItem):
        if not _over_image(item):
            pen = _remember(item, "pen", item.opts["pen"])
            item.setPen(_pen(pen, scheme) if pen is not None else None)
            brush = _remember(item, "symbolBrush", item.opts.get("symbolBrush"))
            if isinstance(brush, str | QColor | tuple):
                item.setSymbolBrush(plot_color(brush, scheme))


def restyle_view(view: pg.GraphicsView, scheme: str) -> None:
    """A plot widget's background and every item in it."""
    view.setBackground(INKS[scheme].background)
    for item in view.scene().items():
        restyle_item(item, scheme)


def restyle_plots(scheme: str, widgets: list[QWidget] | None = None) -> None:
    """Every pyqtgraph view (and 3D view) among ``widgets`` (default: the application's)."""
    for w in QApplication.allWidgets() if widgets is None else widgets:
        if isinstance(w, pg.GraphicsView):
            restyle_view(w, scheme)
        elif type(w).__name__ == "GLViewWidget":
            w.setBackgroundColor(INKS[scheme].background)
            for item in w.items:
                if type(item).__name__ == "GLGridItem":
                    item.setColor((0, 0, 0, 60) if scheme == LIGHT else (255, 255, 255, 60))


_FUSION_SET = "convscope_fusion_set"


def apply(app: QApplication, scheme: str) -> None:
    """``scheme`` ("light" or "dark") for the whole application, the open plots included."""
    global _scheme
    _scheme = scheme
    k = INKS[scheme]
    pg.setConfigOptions(background=k.background, foreground=k.text)
    if not app.property(_FUSION_SET):  # once: with a style sheet on, style().name() is "" and
        app.setStyle("Fusion")  # asking it again re-polished every widget (0.13 s per window)
        app.setProperty(_FUSION_SET, True)
    app.setPalette(palette(scheme))
    app.setStyleSheet(style_sheet(scheme))
    restyle_plots(scheme)


class ThemeFollower(QObject):
    """The theme choice for an application; with "system", follows the desktop's changes."""

    def __init__(self, app: QApplication, choice: str = SYSTEM) -> None:
        super().__init__(app)
        self.app = app
        self.choice = SYSTEM
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._on_system_change)
        self.set_choice(choice)

    def set_choice(self, choice: str) -> None:
        """Apply ``choice`` (system, light or dark) now."""
        self.choice = choice if choice in CHOICES else SYSTEM
        apply(self.app, resolve(self.choice))

    def _on_system_change(self, _scheme: object) -> None:
        if self.choice == SYSTEM:
            apply(self.app, resolve(SYSTEM))


def follower(app: QApplication) -> ThemeFollower:
    """The application's one ThemeFollower (made on first use, following the system)."""
    found = app.findChild(ThemeFollower)
    return found if found is not None else ThemeFollower(app)
