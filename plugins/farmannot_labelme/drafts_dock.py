"""Drafts apart: the shapes ``farmannot propose`` / ``predict --polygons`` flagged ``proposal``, with their score.

A draft is an ordinary labelme shape whose ``flags`` hold ``{"proposal": true}`` and whose description is
JSON with ``attributes.score`` (:mod:`farmannot.predict.drafts`). The dock lists the drafts of the open
image (best score first); selecting one selects it on the canvas; *Accept* clears the flag (the shape becomes
an ordinary annotation), *Accept all* does so for every draft, *Delete draft* removes the shape.
"""

from __future__ import annotations

import json

from PyQt5 import QtCore, QtGui, QtWidgets

from farmannot.predict.drafts import PROPOSAL_FLAG

#: Outline colour of drafts on the canvas (accepted shapes get their label's colour back).
DRAFT_RGB = (255, 170, 0)


def draft_score(shape) -> float | None:
    """The score kept in a draft shape's description, or ``None``."""
    try:
        desc = json.loads(shape.description or "")
    except (TypeError, ValueError):
        return None
    score = ((desc or {}).get("attributes") or {}).get("score") if isinstance(desc, dict) else None
    return float(score) if isinstance(score, (int, float)) else None


def is_draft(shape) -> bool:
    return bool((shape.flags or {}).get(PROPOSAL_FLAG))


class DraftsDock(QtWidgets.QDockWidget):
    """Lists draft shapes of the window's canvas; accept or delete them."""

    def __init__(self, window, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Drafts (proposals)", parent or window)
        self.setObjectName("farmannot-drafts-dock")
        self._window = window
        body = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(body)
        lay.setContentsMargins(4, 4, 4, 4)
        self.summary = QtWidgets.QLabel("No drafts")
        self.summary.setWordWrap(True)  # a long count wraps instead of widening the dock column
        self.list = QtWidgets.QListWidget()
        self.list.setObjectName("farmannot-drafts-list")
        self.list.setSelectionMode(QtWidgets.QAbstractItemView.ExtendedSelection)
        self.list.itemSelectionChanged.connect(self._select_on_canvas)
        # two fixed rows (Accept / Accept all, then Delete draft): each button keeps its whole text in a side
        # column at its narrowest (three in one row were cut: "elete draf")
        row = QtWidgets.QGridLayout()
        row.setSpacing(2)
        self.accept_button = QtWidgets.QPushButton("Accept")
        self.accept_all_button = QtWidgets.QPushButton("Accept all")
        self.delete_button = QtWidgets.QPushButton("Delete draft")
        self.accept_button.setToolTip("Clear the proposal flag of the selected drafts: they become annotations.")
        self.delete_button.setToolTip("Remove the selected drafts from the annotation.")
        for i, b in enumerate((self.accept_button, self.accept_all_button, self.delete_button)):
            b.setSizePolicy(QtWidgets.QSizePolicy.Preferred, QtWidgets.QSizePolicy.Fixed)
            row.addWidget(b, i // 2, i % 2)
        self.accept_button.clicked.connect(lambda: self.accept(self.selected_shapes()))
        self.accept_all_button.clicked.connect(self.accept_all)
        self.delete_button.clicked.connect(lambda: self.delete(self.selected_shapes()))
        lay.addWidget(self.summary)
        lay.addWidget(self.list, 1)
        lay.addLayout(row)
        self.setWidget(body)
        self._refresh_pending = False
        #: Set by the scene grid: ``() -> int`` drafts waiting in other views, and ``() -> int`` accepting them.
        self.elsewhere_count = lambda: 0
        self.accept_elsewhere = lambda: 0
        model = window._docks.label_list.model()
        for sig in (model.rowsInserted, model.rowsRemoved, model.modelReset):
            sig.connect(self.schedule_refresh)
        self.refresh()

    # -- reading the canvas --

    def _shapes(self) -> list:
        return [s for item in self._window._docks.label_list if (s := item.shape()) is not None]

    def draft_shapes(self) -> list:
        """Draft shapes of the open image, best score first."""
        drafts = [s for s in self._shapes() if is_draft(s)]
        return sorted(drafts, key=lambda s: -(draft_score(s) if draft_score(s) is not None else -1.0))

    def selected_shapes(self) -> list:
        return [it.data(QtCore.Qt.UserRole) for it in self.list.selectedItems()]

    def schedule_refresh(self, *_args) -> None:
        if not self._refresh_pending:
            self._refresh_pending = True
            QtCore.QTimer.singleShot(0, self.refresh)

    def refresh(self) -> None:
        """Rebuild the list from the canvas."""
        self._refresh_pending = False
        drafts = self.draft_shapes()
        self.list.blockSignals(True)
        self.list.clear()
        for k, shape in enumerate(drafts, start=1):
            shape.line_color = QtGui.QColor(*DRAFT_RGB)  # drafts stand apart on the canvas too
            shape.fill_color = QtGui.QColor(*DRAFT_RGB, 60)
            shape.vertex_fill_color = QtGui.QColor(*DRAFT_RGB)
            score = draft_score(shape)
            text = f"{k}. {shape.label}  score {score:.3f}" if score is not None else f"{k}. {shape.label}"
            item = QtWidgets.QListWidgetItem(text)
            item.setData(QtCore.Qt.UserRole, shape)
            self.list.addItem(item)
        self.list.blockSignals(False)
        self._window._canvas_widgets.canvas.update()
        total = len(self._shapes())
        text = (f"{len(drafts)} draft(s) to review, {total - len(drafts)} accepted shape(s)"
                if drafts else f"No drafts; {total} shape(s)")
        other = self.elsewhere_count()
        if other:
            text += f"; {other} draft(s) in other views"
        self.summary.setText(text)
        for b in (self.accept_button, self.delete_button):
            b.setEnabled(bool(drafts))
        self.accept_all_button.setEnabled(bool(drafts) or bool(other))

    # -- actions --

    def _select_on_canvas(self) -> None:
        shapes = self.selected_shapes()
        if shapes:
            self._window._canvas_widgets.canvas.select_shapes(shapes)

    def accept(self, shapes: list) -> int:
        """Clear the proposal flag of ``shapes``; returns how many were drafts."""
        n = 0
        for s in shapes:
            if is_draft(s):
                s.flags = {k: v for k, v in (s.flags or {}).items() if k != PROPOSAL_FLAG}
                self._window._update_shape_color(s)  # back to its label's colour
                n += 1
        if n:
            self._window.mark_dirty()
        self.refresh()
        self._window._canvas_widgets.canvas.update()
        return n

    def accept_all(self) -> int:
        """Accept every draft of the image (in a large scene: of every view)."""
        n = self.accept_elsewhere()
        if n:
            self._window.mark_dirty()
        return n + self.accept(self.draft_shapes())

    def delete(self, shapes: list) -> int:
        """Remove ``shapes`` (drafts only) from the canvas and the label list."""
        shapes = [s for s in shapes if is_draft(s)]
        if not shapes:
            return 0
        canvas = self._window._canvas_widgets.canvas
        for s in shapes:
            canvas.delete_shape(s)
        self._window.remove_labels(shapes)
        self._window.mark_dirty()
        self.refresh()
        return len(shapes)
