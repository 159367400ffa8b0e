"""The "Scene display" dock: which bands show as red, green, blue, and the scene-wide stretch."""

from __future__ import annotations

from collections.abc import Callable

from PyQt5 import QtWidgets

STRETCH_CHOICES = (("auto", "auto (stretch unless 8-bit)"), ("scene", "scene 2-98 %"), ("none", "as stored"))


class DisplayDock(QtWidgets.QDockWidget):
    """Band and stretch choice for rasters; disabled for PNG/JPEG.

    Args:
        on_apply: Called with ``(bands or None, stretch)`` when the annotator applies a choice.
    """

    def __init__(self, on_apply: Callable[[list[int] | None, str], None], parent=None) -> None:
        super().__init__("Scene display", parent)
        self.setObjectName("farmannot-display")
        self._on_apply = on_apply
        body = QtWidgets.QWidget()
        form = QtWidgets.QFormLayout(body)
        form.setContentsMargins(4, 4, 4, 4)
        self.combos: list[QtWidgets.QComboBox] = []
        for colour in ("red", "green", "blue"):
            combo = QtWidgets.QComboBox()
            combo.setObjectName(f"band-{colour}")
            self.combos.append(combo)
            form.addRow(colour, combo)
        self.stretch = QtWidgets.QComboBox()
        for key, text in STRETCH_CHOICES:
            self.stretch.addItem(text, key)
        form.addRow("stretch", self.stretch)
        self.info = QtWidgets.QLabel("")
        self.info.setWordWrap(True)
        form.addRow(self.info)
        self.apply_button = QtWidgets.QPushButton("Apply to this and next images")
        self.apply_button.clicked.connect(self._apply)
        form.addRow(self.apply_button)
        self.setWidget(body)

    def show_picture(self, band_labels: list[str], bands: list[int], stretch_mode: str, stretch: dict | None) -> None:
        """Reflect the picture on screen (``band_labels`` empty for PNG/JPEG)."""
        raster = bool(band_labels)
        for combo, band in zip(self.combos, bands or [0, 0, 0]):
            combo.blockSignals(True)
            combo.clear()
            for i, text in enumerate(band_labels, 1):
                combo.addItem(text, i)
            if band:
                combo.setCurrentIndex(band - 1)
            combo.blockSignals(False)
        idx = self.stretch.findData(stretch_mode)
        self.stretch.setCurrentIndex(max(idx, 0))
        for w in (*self.combos, self.stretch, self.apply_button):
            w.setEnabled(raster)
        if not raster:
            self.info.setText("PNG/JPEG: shown as stored.")
        elif stretch:
            lo = ", ".join(f"{v:.4g}" for v in stretch["low"])
            hi = ", ".join(f"{v:.4g}" for v in stretch["high"])
            self.info.setText(f"Scene-wide stretch (whole scene, not this view): low {lo}; high {hi}.")
        else:
            self.info.setText("Shown as stored (8-bit).")

    def _apply(self) -> None:
        bands = [c.currentData() for c in self.combos]
        if any(b is None for b in bands):
            return
        self._on_apply(bands, self.stretch.currentData())


