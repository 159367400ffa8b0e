"""A person's verdicts on audit suspects: "the label is right", kept per audit folder in ``reviewed.json``.

A suspect checked and found right should not come back at the top of the next audit, but only while its
label stays the one that was checked: each mark keeps the label file's size and modification time (a
rebuilt dataset rewrites only the files whose bytes changed), and a changed label voids the mark.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from pathlib import Path

from farmannot.errors import InputError
from farmannot.io.atomic import write_json

REVIEWED = "reviewed.json"


def file_stamp(path: str | Path) -> str | None:
    """``size:mtime_ns`` of a file (None when it is gone): what changes when a rebuild rewrites it."""
    try:
        st = Path(path).stat()
    except FileNotFoundError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}"


def read_reviewed(audit_dir: str | Path) -> dict[str, dict]:
    """The marks of an audit folder (empty when there are none or the file is unreadable)."""
    try:
        data = json.loads((Path(audit_dir) / REVIEWED).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def is_reviewed(marks: dict[str, dict], tile_id: str, label: str | Path) -> bool:
    """True when ``tile_id`` was marked right and its label file is still the one that was checked."""
    mark = marks.get(tile_id)
    return bool(mark) and mark.get("stamp") is not None and mark.get("stamp") == file_stamp(label)


def mark_reviewed(audit_dir: str | Path, tile_id: str, verdict: str = "label_ok") -> dict:
    """Record that a person checked suspect ``tile_id`` of this audit and found its label right.

    The tile's label file comes from the audit's ``audit.csv``.

    Raises:
        InputError: no ``audit.csv`` in ``audit_dir``, or no such tile in it.
    """
    audit_dir = Path(audit_dir)
    try:
        with open(audit_dir / "audit.csv", newline="", encoding="utf-8") as fh:
            label = next((r["label"] for r in csv.DictReader(fh) if r["tile_id"] == tile_id), None)
    except FileNotFoundError:
        raise InputError(f"{audit_dir}: no audit.csv; give the folder `farmannot audit --output` wrote.") from None
    if label is None:
        raise InputError(f"{audit_dir / 'audit.csv'}: no tile {tile_id!r}; was the audit run again since?")
    marks = read_reviewed(audit_dir)
    marks[tile_id] = {"verdict": verdict, "label": label, "stamp": file_stamp(label),
                      "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    write_json(audit_dir / REVIEWED, dict(sorted(marks.items())))
    return marks[tile_id]


def unmark_reviewed(audit_dir: str | Path, tile_id: str) -> bool:
    """Take back the mark of ``tile_id`` (a "label is right" pressed by mistake); False when it had none."""
    audit_dir = Path(audit_dir)
    marks = read_reviewed(audit_dir)
    if tile_id not in marks:
        return False
    del marks[tile_id]
    write_json(audit_dir / REVIEWED, dict(sorted(marks.items())))
    return True
