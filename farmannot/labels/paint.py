"""labelme's own drawing of shapes, onto the canvas of any window of a scene.

labelme turns a shape into pixels with PIL (``labelme.utils.shape_to_mask``): ``polygon``, ``rectangle`` and
``ellipse`` with ``fill`` and a one-pixel ``outline``, PIL truncating every coordinate to an integer; a mask
shape is pasted at its truncated top-left corner. This module draws the same PIL primitives with the same
integer coordinates, so its pixels are labelme's by construction; it only moves the origin to a window's
corner. Because the coordinates are truncated in scene coordinates first (as labelme's PIL call does on the
whole image) and moved by whole pixels after, a window's canvas holds exactly the pixels of the whole-image
drawing that fall in it (``tests/labels/test_paint.py`` checks this against ``shapes_to_label``).

One canvas per window takes every shape that touches it, in file order, each drawn with its position in
that order as the ink (PIL ``"I"`` images, 32-bit), so one pass gives the last shape over every pixel:
label values and parcel ids are then looked up from it. Shapes are kept as small integer arrays with their
pixel bounds; which shapes touch a window is one vectorised comparison of those bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import PIL.Image
import PIL.ImageDraw

from farmannot.io.labelme_json import Shape

POLYGON, RECTANGLE, ELLIPSE, MASK = "polygon", "rectangle", "ellipse", "mask"
KINDS = (POLYGON, RECTANGLE, ELLIPSE, MASK)


def _primitive(shape: Shape) -> tuple[str, np.ndarray, np.ndarray | None]:
    """labelme's PIL primitive for an area shape: its kind, integer coordinates (scene pixels) and mask."""
    t = shape.shape_type
    if t == "mask":
        # labelme: (x1, y1), (x2, y2) = np.asarray(points).astype(int); mask[y1:y2 + 1, x1:x2 + 1] = mask
        corner = np.asarray(shape.points[0], dtype=np.float64).astype(np.int64)[None]
        mask = np.zeros((0, 0), bool) if shape.mask is None else np.asarray(shape.mask, dtype=bool)
        return MASK, corner, mask
    if t == "circle":
        (cx, cy), (px, py) = (tuple(p) for p in shape.points[:2])
        d = math.sqrt((cx - px) ** 2 + (cy - py) ** 2)  # labelme's own arithmetic, so the same floats
        box = np.trunc(np.array([[cx - d, cy - d], [cx + d, cy + d]], dtype=np.float64))
        return ELLIPSE, box.astype(np.int64), None
    pts = np.trunc(np.asarray(shape.points, dtype=np.float64)).astype(np.int64)
    if t == "rectangle":
        (x0, y0), (x1, y1) = pts[0], pts[-1]
        return RECTANGLE, np.array([[min(x0, x1), min(y0, y1)], [max(x0, x1), max(y0, y1)]], np.int64), None
    return POLYGON, pts, None  # polygon, oriented_rectangle


@dataclass
class Drawing:
    """Shapes ready to draw, in file order.

    Attributes:
        kinds: PIL primitive per shape (:data:`POLYGON`, :data:`RECTANGLE`, :data:`ELLIPSE`, :data:`MASK`).
        coords: integer ``(n, 2)`` per shape (int32 where it fits, else int64): polygon vertices, the two corners of a rectangle or an ellipse's
            box, or a mask's top-left pixel; truncated as PIL truncates them, in scene pixels.
        masks: The boolean mask of a mask shape, else None.
        bounds: int64 ``(shapes, 4)``: the first and last column and row a shape can paint (inclusive).
    """

    kinds: list[str]
    coords: list[np.ndarray]
    masks: list[np.ndarray | None]
    bounds: np.ndarray

    @classmethod
    def of(cls, shapes: list[Shape]) -> Drawing:
        kinds, coords, masks = [], [], []
        bounds = np.zeros((len(shapes), 4), np.int64)
        for k, s in enumerate(shapes):
            kind, xy, mask = _primitive(s)
            kinds.append(kind)
            # 32-bit where the vertices fit (half the memory of a scene's plan); painting moves them in 64 bits
            coords.append(xy.astype(np.int32) if xy.size and np.abs(xy).max() < 2 ** 31 else xy)
            masks.append(mask)
            if kind == MASK:
                h, w = mask.shape
                bounds[k] = (xy[0, 0], xy[0, 1], xy[0, 0] + w - 1, xy[0, 1] + h - 1)
            else:
                bounds[k, :2], bounds[k, 2:] = xy.min(axis=0), xy.max(axis=0)
        return cls(kinds, coords, masks, bounds)

    @classmethod
    def concat(cls, parts: list[Drawing]) -> Drawing:
        """The drawings one after the other (file order kept)."""
        return cls([k for d in parts for k in d.kinds], [c for d in parts for c in d.coords],
                   [m for d in parts for m in d.masks],
                   np.concatenate([d.bounds for d in parts]) if parts else np.zeros((0, 4), np.int64))

    def subset(self, idx) -> Drawing:
        """The shapes ``idx`` (increasing file indices), in file order: a window's canvas drawn from the subset
        equals the whole drawing's wherever the subset holds every shape touching that window."""
        idx = np.asarray(idx, dtype=np.int64)
        return Drawing([self.kinds[i] for i in idx], [self.coords[i] for i in idx], [self.masks[i] for i in idx],
                       self.bounds[idx])

    def arrays(self) -> dict[str, np.ndarray]:
        """The drawing as a few flat arrays (a file's worth, no object per shape): ``kind`` (index into
        :data:`KINDS`), ``count`` (vertices per shape), ``coords`` (every shape's vertices one after the other),
        ``bounds``, and the mask shapes' sizes (``mask_shape``) and pixels (``mask_bits``, flattened)."""
        masks = [m for m in self.masks if m is not None]
        return {"kind": np.array([KINDS.index(k) for k in self.kinds], np.uint8),
                "count": np.array([len(c) for c in self.coords], np.int64),
                "coords": np.concatenate(self.coords).astype(np.int64) if self.coords else np.zeros((0, 2), np.int64),
                "bounds": self.bounds,
                "mask_shape": np.array([m.shape for m in masks], np.int64).reshape(-1, 2),
                "mask_bits": np.concatenate([m.ravel() for m in masks]) if masks else np.zeros(0, bool)}

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> Drawing:
        """The drawing of :meth:`arrays` (vertices kept 32-bit where they fit, as :meth:`of` keeps them)."""
        xy = a["coords"]
        if xy.size and np.abs(xy).max() < 2 ** 31:
            xy = xy.astype(np.int32)
        ends = np.cumsum(a["count"])
        coords = [xy[e - n:e] for n, e in zip(a["count"].tolist(), ends.tolist())]
        kinds = [KINDS[k] for k in a["kind"].tolist()]
        sizes = a["mask_shape"].tolist()
        stops = np.cumsum([h * w for h, w in sizes]).tolist()
        pixels = iter(a["mask_bits"][s - h * w:s].reshape(h, w) for (h, w), s in zip(sizes, stops))
        masks = [next(pixels) if k == MASK else None for k in kinds]
        return cls(kinds, coords, masks, np.asarray(a["bounds"], np.int64).reshape(-1, 4))

    def __len__(self) -> int:
        return len(self.kinds)

    def touching(self, col: int, row: int, width: int, height: int) -> np.ndarray:
        """Indices (file order) of the shapes that can paint a pixel of the window."""
        b = self.bounds
        hit = (b[:, 2] >= col) & (b[:, 0] < col + width) & (b[:, 3] >= row) & (b[:, 1] < row + height)
        return np.flatnonzero(hit)

    def paint(self, idx, col: int, row: int, width: int, height: int) -> np.ndarray:
        """int32 ``(height, width)`` canvas of the window: ``k + 1`` where shape ``idx[k]`` is the last one drawn
        over a pixel (labelme's painting order), 0 where none is."""
        img = PIL.Image.new("I", (int(width), int(height)), 0)
        draw = PIL.ImageDraw.Draw(img)
        off = np.array([col, row], np.int64)
        for k, i in enumerate(idx, start=1):
            kind, xy = self.kinds[i], self.coords[i] - off
            if kind == POLYGON:
                draw.polygon(xy.ravel().tolist(), fill=k, outline=k)
            elif kind == RECTANGLE:
                draw.rectangle(xy.ravel().tolist(), fill=k, outline=k)
            elif kind == ELLIPSE:
                draw.ellipse(xy.ravel().tolist(), fill=k, outline=k)
            else:  # a mask shape: pasted where it is true, between the PIL drawings before and after it
                canvas = np.array(img, dtype=np.int32)
                _paste(canvas, self.masks[i], int(xy[0, 0]), int(xy[0, 1]), k)
                img = PIL.Image.fromarray(canvas)
                draw = PIL.ImageDraw.Draw(img)
        return np.asarray(img, dtype=np.int32)


def _paste(canvas: np.ndarray, mask: np.ndarray, x: int, y: int, value: int) -> None:
    h, w = canvas.shape
    c0, r0 = max(x, 0), max(y, 0)
    c1, r1 = min(x + mask.shape[1], w), min(y + mask.shape[0], h)
    if c1 > c0 and r1 > r0:
        part = mask[r0 - y:r1 - y, c0 - x:c1 - x]
        canvas[r0:r1, c0:c1][part] = value
