"""The window's timing side: active annotation time per image visit, logged for ``annotate --report-times``.

A mixin of :class:`farmannot_labelme.window.FarmannotMainWindow`. A *visit* starts when an image is loaded
and ends when another is opened or the window closes; :class:`Activity` feeds the application's input events
to the visit's :class:`farmannot.sam.annotation_time.ActiveTimer` (idle gaps capped), and the window's SAM
side counts the shapes SAM made. The record goes to the annotation folder's log
(:func:`farmannot.sam.annotation_time.append_record`); :func:`farmannot.sam.annotation_time.summarize` turns
the log into the SAM-versus-manual report.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from PyQt5 import QtCore

from farmannot.sam import annotation_time


class Activity(QtCore.QObject):
    """Feeds input events of the application to the active-time counter."""

    _EVENTS = {QtCore.QEvent.MouseButtonPress, QtCore.QEvent.MouseMove, QtCore.QEvent.KeyPress,
               QtCore.QEvent.Wheel}

    def __init__(self, window) -> None:
        super().__init__(window)
        self._window = window

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt name
        if event.type() in self._EVENTS and self._window._fa_visit is not None:
            self._window._fa_visit["timer"].touch()
        return False


class TimingMixin:
    """One visit per opened image: active seconds, shapes, SAM shapes, saved or not."""

    def _fa_start_visit(self, path: str) -> None:
        self._fa_visit = {"image": path, "timer": annotation_time.ActiveTimer(self._fa.idle_after_s),
                          "sam_shapes": 0, "saved": False, "started": datetime.now(timezone.utc)}

    def _fa_end_visit(self) -> None:
        visit, self._fa_visit = self._fa_visit, None
        if visit is None or not self._fa.log_times:
            return
        label_dir = Path(self.annotation_path() or visit["image"]).parent
        try:
            image = os.path.relpath(visit["image"], label_dir)
            n_shapes = sum(1 for item in self._docks.label_list if item.shape() is not None)
            rec = annotation_time.new_record(image, visit["timer"].active_s, n_shapes, visit["sam_shapes"],
                                             visit["saved"], visit["started"])
            annotation_time.append_record(label_dir, rec)
        except OSError as exc:
            self.show_status_message(f"Could not log annotation time in {label_dir}: {exc}", 8000)
