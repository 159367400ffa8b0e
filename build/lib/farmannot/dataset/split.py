"""Group-aware train/val/test split: no group (region) in two splits, shares as close to the ratio as possible.

With up to 12 groups every assignment is tried (3^12 = 531,441); above that a seeded greedy fill
(largest groups first) is used. Among equally good assignments the seed decides, deterministically.

Spatial blocks (:func:`assign_blocks`) are split scene by scene instead, so each split gets tiles of every
scene that has enough blocks: a test of the same regions on unseen ground, not of unseen regions.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import numpy as np

from farmannot.errors import FarmannotError

SPLITS = ("train", "val", "test")
_EXHAUSTIVE_MAX = 12


def _cost(shares: np.ndarray, target: np.ndarray) -> float:
    return float(np.abs(shares - target).max())


def assign_splits(sizes: Mapping[str, int], ratio: Sequence[float], seed: int = 0,
                  tolerance: float = 0.15) -> tuple[dict[str, str], dict[str, float]]:
    """Assign each group to a split.

    Args:
        sizes: group -> number of tiles.
        ratio: train:val:test weights (a zero weight leaves that split empty).
        seed: Breaks ties between equally good assignments.
        tolerance: Largest allowed gap between achieved and requested share of any split.

    Returns:
        ``(group -> split, split -> achieved share)``.

    Raises:
        FarmannotError: the groups cannot meet the ratio within ``tolerance``; the message shows the closest
            achievable ratio and the groups' sizes.
    """
    target = np.asarray(ratio, dtype=float) / float(sum(ratio))
    groups = sorted(sizes)
    rng = random.Random(seed)
    order = groups[:]
    rng.shuffle(order)  # the seed picks among ties: candidates are visited in a seeded order
    w = np.array([sizes[g] for g in order], dtype=float)
    total = w.sum()
    if total <= 0:
        raise FarmannotError("no tiles to split.")
    need = target > 0
    if len(order) <= _EXHAUSTIVE_MAX:
        n = len(order)
        codes = np.arange(3 ** n, dtype=np.int64)
        digits = (codes[:, None] // (3 ** np.arange(n, dtype=np.int64))[None, :]) % 3  # (3^n, n)
        shares_all = np.stack([(digits == k) @ w for k in range(3)], axis=1) / total
        cost = np.abs(shares_all - target[None, :]).max(axis=1)
        # each requested split left empty (or unrequested one filled) costs more than any share gap
        bad = (need[None, :] & (shares_all == 0)).sum(axis=1) + (~need[None, :] & (shares_all > 0)).sum(axis=1)
        cost = cost + 10.0 * bad
        i = int(np.argmin(cost))  # first minimum: the seeded group order decides ties
        best, best_cost = digits[i], float(cost[i])
    else:
        c = np.zeros(len(order), dtype=int)
        filled = np.zeros(3)
        for i in sorted(range(len(order)), key=lambda i: -w[i]):
            gaps = target * total - filled
            gaps[~need] = -np.inf
            k = int(np.argmax(gaps))
            c[i] = k
            filled[k] += w[i]
        best = c
        shares = filled / total
        best_cost = _cost(shares, target) + 10.0 * float(np.sum(need & (shares == 0)))
    assert best is not None and best_cost is not None
    shares = np.array([w[best == k].sum() for k in range(3)]) / total
    achieved = {s: float(shares[k]) for k, s in enumerate(SPLITS)}
    if best_cost > tolerance:
        closest = ":".join(f"{100 * v:.0f}" for v in shares)
        wanted = ":".join(f"{100 * v:.0f}" for v in target)
        detail = ", ".join(f"{g}={sizes[g]}" for g in groups)
        raise FarmannotError(
            f"split {wanted} cannot be met with {len(groups)} group(s) kept whole (tiles per group: {detail}); "
            f"the closest achievable ratio is {closest} (train:val:test, %). Add groups, change --split, or "
            f"raise split_tolerance (now {tolerance}) in the config."
        )
    return {g: SPLITS[int(best[i])] for i, g in enumerate(order)}, achieved


def assign_blocks(scenes: Mapping[str, Mapping[str, int]], ratio: Sequence[float], seed: int = 0,
                  tolerance: float = 0.15) -> tuple[dict[str, str], dict[str, float]]:
    """Assign each scene's spatial blocks to splits, every scene on its own.

    Within a scene, blocks (largest first, the seed ordering equal sizes) go to the split furthest below
    its share of that scene's tiles; ties go to the split furthest below its share of all tiles so far.
    A scene of one block goes to train (the largest requested split).

    Args:
        scenes: scene -> (block -> number of tiles).
        ratio: train:val:test weights.
        seed: Orders blocks of equal size.
        tolerance: Largest allowed gap between achieved and requested share of any split over all scenes.

    Returns:
        ``(block -> split, split -> achieved share)``.

    Raises:
        FarmannotError: the blocks cannot meet the ratio within ``tolerance`` (too few blocks per scene).
    """
    target = np.asarray(ratio, dtype=float) / float(sum(ratio))
    rng = random.Random(seed)
    total = float(sum(n for blocks in scenes.values() for n in blocks.values()))
    if total <= 0:
        raise FarmannotError("no tiles to split.")
    filled_all = np.zeros(3)
    out: dict[str, str] = {}
    for scene in sorted(scenes):
        blocks = scenes[scene]
        order = sorted(blocks, key=lambda b: (-blocks[b], rng.random(), b))
        want = target * float(sum(blocks.values()))
        filled = np.zeros(3)
        for b in order:
            gap = want - filled
            gap_all = target * total - filled_all
            cands = [k for k in range(3) if target[k] > 0]
            k = max(cands, key=lambda k: (round(gap[k], 9), round(gap_all[k], 9), -k))
            out[b] = SPLITS[k]
            filled[k] += blocks[b]
            filled_all[k] += blocks[b]
    shares = filled_all / total
    achieved = {s: float(shares[k]) for k, s in enumerate(SPLITS)}
    empty = [SPLITS[k] for k in range(3) if target[k] > 0 and shares[k] == 0]
    if _cost(shares, target) > tolerance or empty:
        closest = ":".join(f"{100 * v:.0f}" for v in shares)
        wanted = ":".join(f"{100 * v:.0f}" for v in target)
        raise FarmannotError(
            f"split {wanted} cannot be met with spatial blocks of {len(scenes)} scene(s) ({len(out)} block(s))"
            + (f", {' and '.join(empty)} would be empty" if empty else "") + "; "
            f"the closest achievable ratio is {closest} (train:val:test, %). Use smaller blocks (block_tiles), "
            f"smaller tiles, or raise split_tolerance (now {tolerance}) in the config."
        )
    return out, achieved


def buffer_train(cells: Sequence[tuple[int, int]], splits: Sequence[str], buffer: int) -> list[str]:
    """Leave out (``""``) every train tile within ``buffer`` tiles (Chebyshev distance on the scene's tile
    grid) of a val or test tile; other tiles keep their split.

    Args:
        cells: ``(row, col)`` of each tile in its scene's tile grid.
        splits: Split of each tile.
        buffer: Buffer width in tiles (0 leaves everything as it is).
    """
    out = list(splits)
    if buffer <= 0:
        return out
    held = np.array([c for c, s in zip(cells, splits) if s in ("val", "test")], dtype=int).reshape(-1, 2)
    if not len(held):
        return out
    for i, (c, s) in enumerate(zip(cells, splits)):
        if s == "train" and (np.abs(held - np.asarray(c)).max(axis=1) <= buffer).any():
            out[i] = ""
    return out
