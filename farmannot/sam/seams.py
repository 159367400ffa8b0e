"""Merge proposals from overlapping chips: one field cut by a chip seam becomes one polygon.

Each chip proposes polygons (scene pixel coordinates) with a score. Two proposals from different chips
are the same object when they overlap enough: IoU above ``dup_iou`` (a duplicate seen whole by both
chips), or, where one was cut by its chip's edge, when their overlap covers ``seam_overlap`` of the
smaller one's part inside the shared chip area. Candidate pairs come from an STRtree, so the merge is
O(n log n) in the number of proposals, never quadratic; groups are joined with a union-find.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry
from shapely.strtree import STRtree


@dataclass
class Proposal:
    geometry: BaseGeometry        # scene pixel coordinates
    score: float
    chip: int                     # index of the chip it came from
    cut: bool = False             # touches its chip's inner edge (not the scene border)
    sources: list[int] = field(default_factory=list)


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def merge_proposals(proposals: list[Proposal], dup_iou: float = 0.5, seam_overlap: float = 0.5,
                    windows: list[tuple[int, int, int, int]] | None = None) -> list[Proposal]:
    """Join proposals of the same object across chips; returns one proposal per object.

    Args:
        windows: Each chip's ``(col, row, width, height)`` (indexed by ``Proposal.chip``). With them a cut
            proposal is compared with the other inside the two chips' shared area only, so a field wider than
            the chip overlap, cut on both chips, is still joined; without them, over the whole smaller one.

    A merged proposal is the union of its parts (holes kept), its score the area-weighted mean, ``sources``
    the indices of the inputs it came from.
    """
    n = len(proposals)
    if n == 0:
        return []
    geoms = np.array([p.geometry for p in proposals], dtype=object)
    tree = STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    parent = list(range(n))
    if left.size:
        a, b = geoms[left], geoms[right]
        inter = shapely.area(shapely.intersection(a, b))
        area_a, area_b = shapely.area(a), shapely.area(b)
        union = area_a + area_b - inter
        iou = inter / np.maximum(union, 1e-12)
        chips = np.array([p.chip for p in proposals])
        cut = np.array([p.cut for p in proposals])
        other_chip = chips[left] != chips[right]
        part_a, part_b = area_a, area_b
        if windows is not None:
            win = np.asarray(windows, dtype=np.float64)
            wa, wb = win[chips[left]], win[chips[right]]
            shared = shapely.box(np.maximum(wa[:, 0], wb[:, 0]), np.maximum(wa[:, 1], wb[:, 1]),
                                 np.minimum(wa[:, 0] + wa[:, 2], wb[:, 0] + wb[:, 2]),
                                 np.minimum(wa[:, 1] + wa[:, 3], wb[:, 1] + wb[:, 3]))
            part_a = shapely.area(shapely.intersection(a, shared))
            part_b = shapely.area(shapely.intersection(b, shared))
        seam = (cut[left] | cut[right]) & (inter / np.maximum(np.minimum(part_a, part_b), 1e-12) >= seam_overlap)
        same = other_chip & ((iou >= dup_iou) | seam)
        for i, j in zip(left[same], right[same]):
            ri, rj = _find(parent, int(i)), _find(parent, int(j))
            if ri != rj:
                parent[max(ri, rj)] = min(ri, rj)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(_find(parent, i), []).append(i)
    out = []
    for root in sorted(groups):
        members = groups[root]
        if len(members) == 1:
            p = proposals[members[0]]
            out.append(Proposal(p.geometry, p.score, p.chip, p.cut, [members[0]]))
            continue
        geom = shapely.union_all([proposals[i].geometry for i in members])
        w = np.array([proposals[i].geometry.area for i in members])
        score = float(np.average([proposals[i].score for i in members], weights=np.maximum(w, 1e-12)))
        out.append(Proposal(geom, score, proposals[members[0]].chip, False, members))
    return out


def touches_inner_edge(geometry: BaseGeometry, window: tuple[int, int, int, int], width: int, height: int,
                       tol: float = 1.0) -> bool:
    """Whether ``geometry`` reaches an edge of its chip ``(col, row, w, h)`` that is not the scene border."""
    c, r, w, h = window
    x0, y0, x1, y1 = geometry.bounds
    return ((x0 <= c + tol and c > 0) or (y0 <= r + tol and r > 0)
            or (x1 >= c + w - tol and c + w < width) or (y1 >= r + h - tol and r + h < height))
