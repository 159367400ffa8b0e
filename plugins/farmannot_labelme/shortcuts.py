"""The keys annotators from X-AnyLabeling expect, added to labelme's own (which all keep working).

| key | action | labelme's own way |
| --- | --- | --- |
| Q | AI-Points, clicks add positive points (inside the field) | click |
| E | AI-Points, clicks add negative points (outside the field) | Shift+click |
| R | AI-Box: drag a box around the field | AI-Box button |
| B | clear the prompt being built (points or box) | Esc |
| F | finish: segment with the points given | Enter, Space, Ctrl+click |
| Shift+D / Shift+A | next / previous image without an annotation | - |

labelme's A / D (previous / next image), Ctrl+Z (undo) and Delete stay as they are. The keys are window
actions, so typing in a text field (caption, label dialog) never triggers them. Negative points without Shift
come from :class:`farmannot_labelme.canvas.FarmannotCanvas` (``farmannot_negative``).
"""

from __future__ import annotations

from PyQt5 import QtGui, QtWidgets

#: (key, name, what it does): shown in tooltips and the Help menu.
KEYS = (
    ("Q", "positive", "AI-Points: clicks add positive points"),
    ("E", "negative", "AI-Points: clicks add negative points"),
    ("R", "box", "AI-Box: drag a box around the field"),
    ("B", "clear", "clear the prompt being built"),
    ("F", "finish", "finish: segment with the points given"),
    ("Shift+D", "next_unannotated", "next image without an annotation"),
    ("Shift+A", "prev_unannotated", "previous image without an annotation"),
)


def install_shortcuts(window) -> dict[str, QtWidgets.QAction]:
    """Add the actions of :data:`KEYS` to ``window`` and name them in the AI tools' tooltips."""
    canvas = window._canvas_widgets.canvas
    slots = {
        "positive": lambda: _points(window, negative=False),
        "negative": lambda: _points(window, negative=True),
        "box": lambda: _mode(window, "ai_box_to_shape"),
        "clear": lambda: _clear(window),
        "finish": lambda: _finish(window),
        "next_unannotated": lambda: step_unannotated(window, 1),
        "prev_unannotated": lambda: step_unannotated(window, -1),
    }
    actions = {}
    for key, name, text in KEYS:
        act = QtWidgets.QAction(text, window)
        act.setObjectName(f"farmannot-key-{name}")
        act.setShortcut(QtGui.QKeySequence(key))
        act.triggered.connect(lambda _c=False, f=slots[name]: f())
        window.addAction(act)
        actions[name] = act
    points, box = window._actions.create_ai_points_to_shape_mode, window._actions.create_ai_box_to_shape_mode
    points.setToolTip("AI-Points: click inside a field (Q), outside it to exclude (E or Shift+click); "
                      "finish with F, Enter or Ctrl+click; clear with B or Esc.")
    box.setToolTip("AI-Box (R): drag a box around one field; clear with B or Esc.")
    for act in (points, box):
        act.setStatusTip(act.toolTip())
    canvas.farmannot_negative = False
    return actions


def _mode(window, create_mode: str) -> None:
    canvas = window._canvas_widgets.canvas
    if not canvas.isEnabled():
        return
    if canvas.create_mode != create_mode or canvas.mode.name != "CREATE":
        window._switch_canvas_mode(edit=False, create_mode=create_mode)


def _points(window, negative: bool) -> None:
    _mode(window, "ai_points_to_shape")
    window._canvas_widgets.canvas.farmannot_negative = negative
    window.show_status_message("AI-Points: next clicks are " + ("negative (E; Q for positive)" if negative else
                                                               "positive (Q; E for negative)"), 5000)


def _clear(window) -> None:
    canvas = window._canvas_widgets.canvas
    if canvas._current is not None:
        canvas._cancel_current_shape()
        canvas.update()


def _finish(window) -> None:
    canvas = window._canvas_widgets.canvas
    if canvas._current is not None and canvas.create_mode == "ai_points_to_shape":
        canvas._finalize()


def step_unannotated(window, delta: int) -> bool:
    """Open the next (``delta`` = 1) or previous image of the file list without an annotation (where
    farmannot saves it); False when there is none."""
    files = window._docks.file_list
    n = files.count()
    if n == 0:
        return False
    start = files.currentRow()
    for k in range(1, n + 1):
        row = (start + delta * k) % n
        if row == start:
            break
        if not window._fa_home.has_annotation(files.item(row).text()):
            files.setCurrentRow(row)  # labelme loads it (asking about unsaved changes first)
            return True
    window.show_status_message("Every image in the list has an annotation.", 5000)
    return False
