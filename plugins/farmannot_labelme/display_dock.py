"""The "Display" dock: which bands show as red, green, blue, the scene-wide stretch, its percentiles
and the nodata rule (auto: the file's nodata, else a detected constant collar; a value; or none)."""

from __future__ import annotations

from collections.abc import Callable

from PyQt5 import QtCore, QtWidgets

from farmannot.io.stretch import DisplaySettings

STRETCH_CHOICES = (("auto", "auto (stretch unless 8-bit)"), ("scene", "scene 2-98 %"), ("none", "as stored"))


class DisplayDock(QtWidgets.QDockWidget):
    """Band and stretch choice for rasters; disabled for PNG/JPEG.

    Args:
        on_apply: Called with the chosen :class:`farmannot.io.stretch.DisplaySettings` when the annotator
            applies a choice (the canvas and the large-scene views both render with it).
    """

    def __init__(self, on_apply: Callable[[DisplaySettings], None], parent=None) -> None:
        super().__init__("Display", parent)
        self.setObjectName("farmannot-display")
        self.on_apply = on_apply
        body = QtWidgets.QWidget()
        form = QtWidgets.QFormLayout(body)
        form.setContentsMargins(4, 4, 4, 4)
        form.setRowWrapPolicy(QtWidgets.QFormLayout.WrapLongRows)  # narrow dock: the label goes above
        self.combos: list[QtWidgets.QComboBox] = []
        for colour in ("red", "green", "blue"):
            combo = QtWidgets.QComboBox()
            combo.setObjectName(f"band-{colour}")
            combo.setSizeAdjustPolicy(QtWidgets.QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(6)
            self.combos.append(combo)
            form.addRow(colour, combo)
        self.stretch = QtWidgets.QComboBox()
        self.stretch.setSizeAdjustPolicy(QtWidgets.QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.stretch.setMinimumContentsLength(8)
        for key, text in STRETCH_CHOICES:
            self.stretch.addItem(text, key)
        form.addRow("stretch", self.stretch)
        self.nodata = QtWidgets.QLineEdit("auto")
        self.nodata.setObjectName("display-nodata")
        self.nodata.setToolTip("Pixels left out of the stretch and shown black: 'auto' (the file's nodata or "
                               "mask, else a constant collar such as DN 0 around a Landsat scene), a value "
                               "(e.g. 0), or 'none' (every pixel counts).")
        form.addRow("nodata", self.nodata)
        pct = QtWidgets.QHBoxLayout()
        self.low = QtWidgets.QDoubleSpinBox()
        self.high = QtWidgets.QDoubleSpinBox()
        for box, value in ((self.low, 2.0), (self.high, 98.0)):
            box.setRange(0.0, 100.0)
            box.setDecimals(1)
            box.setSingleStep(0.5)
            box.setValue(value)
            box.setSuffix(" %")
            pct.addWidget(box)
        self.low.setToolTip("Stretch low percentile (of the valid pixels of the whole scene)")
        self.high.setToolTip("Stretch high percentile (of the valid pixels of the whole scene)")
        form.addRow("percentiles", pct)
        self.info = QtWidgets.QLabel("")
        self.info.setWordWrap(True)
        form.addRow(self.info)
        self.apply_button = QtWidgets.QPushButton("Apply")
        self.apply_button.setToolTip("Show this and the next images with these bands, stretch and nodata")
        self.apply_button.clicked.connect(self._apply)
        form.addRow(self.apply_button)
        scroll = QtWidgets.QScrollArea()  # a short tab group scrolls instead of overlapping the rows
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarAlwaysOff)
        scroll.setFrameShape(QtWidgets.QFrame.NoFrame)
        scroll.setWidget(body)
        self.setWidget(scroll)

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
        for w in (*self.combos, self.stretch, self.nodata, self.low, self.high, self.apply_button):
            w.setEnabled(raster)
        if not raster:
            self.info.setText("PNG/JPEG: shown as stored.")
        elif stretch:
            lo = ", ".join(f"{v:.4g}" for v in stretch["low"])
            hi = ", ".join(f"{v:.4g}" for v in stretch["high"])
            self.info.setText(f"Scene-wide stretch (whole scene, not this view): low {lo}; high {hi}.")
        else:
            self.info.setText("Shown as stored (8-bit).")

    def set_values(self, nodata: float | str | None, percentiles: tuple[float, float]) -> None:
        self.nodata.setText("none" if nodata is None else str(nodata))
        self.low.setValue(float(percentiles[0]))
        self.high.setValue(float(percentiles[1]))

    def nodata_value(self) -> float | str | None:
        """``"auto"``, ``None`` or a number from the nodata field; raises ValueError on anything else."""
        text = self.nodata.text().strip().lower()
        if text in ("", "auto"):
            return "auto"
        if text == "none":
            return None
        return float(text)

    def percentiles(self) -> tuple[float, float]:
        return float(self.low.value()), float(self.high.value())

    def settings(self) -> DisplaySettings | None:
        """The choice in the dock as one value; ``None`` (the reason in the info line) when it is not valid."""
        bands = [c.currentData() for c in self.combos]
        if any(b is None for b in bands):
            return None
        try:
            nodata = self.nodata_value()
        except ValueError:
            self.info.setText(f"nodata {self.nodata.text()!r} not understood: give auto, none or a number.")
            return None
        lo, hi = self.percentiles()
        if lo >= hi:
            self.info.setText(f"Percentiles {lo:g} % / {hi:g} %: the low one must be below the high one.")
            return None
        return DisplaySettings(tuple(bands), self.stretch.currentData(), nodata, (lo, hi))

    def _apply(self) -> None:
        settings = self.settings()
        if settings is not None:
            self.on_apply(settings)


