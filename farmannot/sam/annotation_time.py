"""Active annotation time per image, logged locally (JSONL), and its summary.

Lets a lab check the FarmSeg-VL claim (semi-automatic annotation about 1.5x faster than manual) on its own
data. Time counts only while the annotator is active on an image: a gap between two input events longer
than ``idle_after_s`` adds ``idle_after_s`` at most (coffee breaks are not annotation time).

The log lives beside the annotations, ``FOLDER/.farmannot/annotation-times.jsonl``, one record per visit of
an image: ``{"image", "started", "active_s", "shapes", "sam_shapes", "saved", "user"}``.
"""

from __future__ import annotations

import getpass
import json
import os
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from farmannot.errors import InputError
from farmannot.io.atomic import write_text

LOG_NAME = Path(".farmannot") / "annotation-times.jsonl"


class ActiveTimer:
    """Accumulates active seconds from a stream of input-event times (``time.monotonic`` values)."""

    def __init__(self, idle_after_s: float = 60.0, now: float | None = None) -> None:
        self.idle_after_s = idle_after_s
        self.active_s = 0.0
        self._last = time.monotonic() if now is None else now

    def touch(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self.active_s += min(max(0.0, now - self._last), self.idle_after_s)
        self._last = now


@dataclass
class VisitRecord:
    """One visit of one image."""

    image: str
    started: str
    active_s: float
    shapes: int
    sam_shapes: int
    saved: bool
    user: str


def log_path(folder: str | os.PathLike) -> Path:
    return Path(folder) / LOG_NAME


def new_record(image: str, active_s: float, shapes: int, sam_shapes: int, saved: bool,
               started: datetime | None = None) -> VisitRecord:
    started = started or datetime.now(timezone.utc)
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = ""
    return VisitRecord(image=image, started=started.isoformat(timespec="seconds"), active_s=round(active_s, 2),
                       shapes=shapes, sam_shapes=sam_shapes, saved=saved, user=user)


def append_record(folder: str | os.PathLike, record: VisitRecord) -> Path:
    """Add ``record`` to the folder's log (rewritten atomically: a crash never leaves half a line)."""
    path = log_path(folder)
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    write_text(path, old + json.dumps(asdict(record), ensure_ascii=False) + "\n")
    return path


def read_records(folder: str | os.PathLike) -> list[dict]:
    """All records under ``folder`` (its own log and those of its subfolders)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder; give the folder you annotated.")
    out = []
    for path in sorted(folder.rglob(str(LOG_NAME))):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                raise InputError(f"{path}:{n}: not a JSON line; remove or fix it.") from None
            rec["image"] = str((path.parent.parent / rec["image"]).resolve().relative_to(folder.resolve())) \
                if not os.path.isabs(rec["image"]) else rec["image"]
            out.append(rec)
    return out


def summarize(records: list[dict]):
    """Per-image totals and an overall comparison of images annotated with and without SAM.

    Returns:
        ``(per_image, overall)``: a pandas DataFrame (image, visits, active_s, shapes, sam_shapes, mode) and a
        dict with images, total_s, median_s_per_image, and ``median_s_sam`` / ``median_s_manual`` /
        ``speedup`` (manual over SAM-assisted median time) when both kinds are present.

    ``mode``: ``sam`` (a SAM shape was made), ``manual`` (saved with shapes, none by SAM), or ``viewed``
    (opened and looked at, never saved with a shape: flipping through images is not manual annotation, so
    these stay out of the SAM vs manual comparison).
    """
    import pandas as pd

    cols = ["image", "visits", "active_s", "shapes", "sam_shapes", "mode"]
    if not records:
        return pd.DataFrame(columns=cols), {"images": 0, "total_s": 0.0}
    df = pd.DataFrame(records)
    if "saved" not in df:
        df["saved"] = True  # logs written before the flag was read count as saved
    per = df.groupby("image", sort=True).agg(visits=("active_s", "size"), active_s=("active_s", "sum"),
                                             shapes=("shapes", "max"), sam_shapes=("sam_shapes", "sum"),
                                             saved=("saved", "any"))
    per = per.reset_index()
    per["mode"] = ["sam" if s > 0 else ("manual" if saved and n > 0 else "viewed")
                   for s, saved, n in zip(per["sam_shapes"], per["saved"], per["shapes"])]
    overall = {"images": int(len(per)), "total_s": float(per["active_s"].sum()),
               "median_s_per_image": float(per["active_s"].median())}
    by_mode = per.groupby("mode")["active_s"].median()
    if "sam" in by_mode and "manual" in by_mode:
        overall["median_s_sam"] = float(by_mode["sam"])
        overall["median_s_manual"] = float(by_mode["manual"])
        overall["speedup"] = float(by_mode["manual"] / by_mode["sam"]) if by_mode["sam"] > 0 else float("nan")
    return per[cols], overall
