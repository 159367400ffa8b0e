"""Sliding-window inference over a scene with overlap and smooth blending, memory flat in scene height.

Patches are processed one row of patches at a time. Predictions are accumulated (weighted by
:func:`~farmannot.predict.blend.blend_weights`) in a strip buffer as wide as the scene and one patch tall
plus the overlap; rows that no later patch touches are normalised and handed to ``write_rows`` at once and
dropped. Peak memory is O(scene width x patch), whatever the scene height.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from rasterio.windows import Window

from farmannot.io.windows import tile_offsets
from farmannot.predict.blend import blend_weights

# (N, C, h, w) float32 input patches -> (N, K, h, w) float32 outputs (probabilities).
PredictFn = Callable[[np.ndarray], np.ndarray]
# (window, C x h x w float32 input, valid mask) for a patch.
ReadFn = Callable[[Window], tuple[np.ndarray, np.ndarray]]
# rows [row_off, row_off + n) of the blended output: (K, n, width) float32 and the valid mask (n, width).
WriteFn = Callable[[int, np.ndarray, np.ndarray], None]


@dataclass(frozen=True)
class SlidingPlan:
    """Patch offsets of a scene: ``rows`` and ``cols`` are patch start offsets."""

    width: int
    height: int
    patch: int
    overlap: int
    rows: tuple[int, ...]
    cols: tuple[int, ...]

    @classmethod
    def make(cls, width: int, height: int, patch: int, overlap: int) -> SlidingPlan:
        return cls(width, height, patch, overlap, tuple(tile_offsets(height, patch, overlap)),
                   tuple(tile_offsets(width, patch, overlap)))

    def windows(self, row: int) -> Iterator[Window]:
        ph = min(self.patch, self.height - row)
        for col in self.cols:
            yield Window(col, row, min(self.patch, self.width - col), ph)

    @property
    def n_patches(self) -> int:
        return len(self.rows) * len(self.cols)


def sliding_predict(plan: SlidingPlan, read: ReadFn, predict: PredictFn, write_rows: WriteFn,
                    n_outputs: int, batch_size: int = 4, on_patch: Callable[[int], None] | None = None) -> None:
    """Run ``predict`` over every patch of ``plan`` and stream blended rows to ``write_rows``."""
    width = plan.width
    acc = np.zeros((n_outputs, 0, width), np.float32)
    wsum = np.zeros((0, width), np.float32)
    valid_buf = np.zeros((0, width), bool)
    top = 0  # scene row of acc[:, 0]
    for i, row in enumerate(plan.rows):
        ph = min(plan.patch, plan.height - row)
        need = row + ph - top
        if need > acc.shape[1]:  # grow the strip downwards
            extra = need - acc.shape[1]
            acc = np.concatenate([acc, np.zeros((n_outputs, extra, width), np.float32)], axis=1)
            wsum = np.concatenate([wsum, np.zeros((extra, width), np.float32)], axis=0)
            valid_buf = np.concatenate([valid_buf, np.zeros((extra, width), bool)], axis=0)
        wins = list(plan.windows(row))
        for start in range(0, len(wins), batch_size):
            chunk = wins[start:start + batch_size]
            reads = [read(w) for w in chunk]
            # Patches at the scene edge can be smaller than the plan's patch size: batch by shape.
            by_shape: dict[tuple[int, ...], list[int]] = {}
            for k, (x, _) in enumerate(reads):
                by_shape.setdefault(x.shape, []).append(k)
            for ks in by_shape.values():
                out = predict(np.stack([reads[k][0] for k in ks]))
                for k, o in zip(ks, out):
                    w = chunk[k]
                    x, valid = reads[k]
                    r0 = int(w.row_off) - top
                    c0 = int(w.col_off)
                    h, wd = int(w.height), int(w.width)
                    bw = blend_weights(h, wd, plan.overlap) * valid
                    acc[:, r0:r0 + h, c0:c0 + wd] += o[:, :h, :wd] * bw
                    wsum[r0:r0 + h, c0:c0 + wd] += bw
                    valid_buf[r0:r0 + h, c0:c0 + wd] |= valid
                if on_patch:
                    on_patch(len(ks))
        final_end = plan.rows[i + 1] if i + 1 < len(plan.rows) else plan.height
        n = final_end - top
        if n > 0:
            with np.errstate(invalid="ignore", divide="ignore"):
                rows_out = acc[:, :n] / wsum[:n]
            rows_out[:, ~valid_buf[:n]] = np.nan
            write_rows(top, rows_out, valid_buf[:n].copy())
            acc = acc[:, n:]
            wsum = wsum[n:]
            valid_buf = valid_buf[n:]
            top = final_end
