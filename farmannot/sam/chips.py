"""SAM on native-resolution chips of large scenes: the chip grid and the chip an object is segmented on.

SAM looks at 1024 px. A 20,000 px scene is cut into a grid of overlapping chips at native resolution;
for a click or box the chip that holds *all* prompts of the object, with the most room around them, is
used, so a field near a chip edge is segmented on a chip where it is whole. An object larger than any chip
is segmented on a chip centred on it, read downsampled, and the caller is told (``downsampled``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rasterio.windows import Window

from farmannot.io.windows import tile_windows

#: SAM's input size: the chip edge in scene pixels (native resolution) of every chip grid.
CHIP_SIZE = 1024
#: Pixels shared by neighbouring chips, so a field cut by one chip's edge lies whole in another.
CHIP_OVERLAP = 256


@dataclass(frozen=True)
class ChipChoice:
    """Where to segment: ``window`` in scene px, read into ``size`` x ``size`` px (``scale`` = size / window)."""

    window: Window
    size: int
    downsampled: bool

    @property
    def scale(self) -> float:
        return self.size / max(float(self.window.width), float(self.window.height))

    def to_chip(self, xy: np.ndarray) -> np.ndarray:
        """Scene pixel coordinates (x=col, y=row) -> chip pixel coordinates."""
        xy = np.asarray(xy, dtype=np.float64)
        return (xy - [self.window.col_off, self.window.row_off]) * self.scale

    def to_scene(self, xy: np.ndarray) -> np.ndarray:
        """Chip pixel coordinates -> scene pixel coordinates."""
        xy = np.asarray(xy, dtype=np.float64)
        return xy / self.scale + [self.window.col_off, self.window.row_off]


def chip_grid(width: int, height: int, chip: int = CHIP_SIZE, overlap: int = CHIP_OVERLAP) -> list[Window]:
    """Overlapping chips at native resolution covering the scene (row-major)."""
    return tile_windows(width, height, chip, overlap)


def prompts_extent(points: Sequence[Sequence[float]] = (), boxes: Sequence[Sequence[float]] = ()) -> tuple[float, float, float, float]:
    """Bounding extent ``(x0, y0, x1, y1)`` of all points and boxes ``[x0, y0, x1, y1]`` of one object."""
    xs: list[float] = []
    ys: list[float] = []
    for x, y in points:
        xs.append(x)
        ys.append(y)
    for x0, y0, x1, y1 in boxes:
        xs += [x0, x1]
        ys += [y0, y1]
    if not xs:
        raise ValueError("an object needs at least one point or box prompt")
    return min(xs), min(ys), max(xs), max(ys)


def choose_chip(extent: tuple[float, float, float, float], grid: Sequence[Window], width: int, height: int,
                chip: int = CHIP_SIZE, margin: float = 0.25) -> ChipChoice:
    """The grid chip holding ``extent`` with the most room on its tightest side.

    When no grid chip holds the extent, or the extent fills more than ``1 - 2 * margin`` of a chip (the
    object itself probably runs past the chip), a chip centred on the extent is made: native size if the
    extent with margins fits in ``chip`` px, otherwise larger and downsampled to ``chip`` px.
    """
    x0, y0, x1, y1 = extent
    ew, eh = x1 - x0, y1 - y0
    best, best_room = None, -1.0
    for w in grid:
        c0, r0 = float(w.col_off), float(w.row_off)
        c1, r1 = c0 + float(w.width), r0 + float(w.height)
        if x0 < c0 or y0 < r0 or x1 > c1 or y1 > r1:
            continue
        # room on the tightest side; a side on the scene border needs no room
        rooms = [x0 - c0 if c0 > 0 else np.inf, c1 - x1 if c1 < width else np.inf,
                 y0 - r0 if r0 > 0 else np.inf, r1 - y1 if r1 < height else np.inf]
        room = min(rooms)
        if room > best_room:
            best, best_room = w, room
    need = max(ew, eh) * (1 + 2 * margin)
    if best is not None and (best_room >= margin * max(ew, eh) or best_room == np.inf):
        return ChipChoice(best, int(max(best.width, best.height)), False)
    side = int(np.ceil(max(need, min(chip, max(width, height)))))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    col = int(np.clip(round(cx - side / 2), 0, max(width - side, 0)))
    row = int(np.clip(round(cy - side / 2), 0, max(height - side, 0)))
    win = Window(col, row, min(side, width - col), min(side, height - row))
    down = side > chip
    return ChipChoice(win, chip if down else int(max(win.width, win.height)), down)
