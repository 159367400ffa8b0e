"""Group-aware train/val/test split: no group (region) in two splits, shares as close to the ratio as possible.

With up to 12 groups every assignment is tried (3^12 = 531,441); above that a seeded greedy fill
(largest groups first) is used. Among equally good assignments the seed decides, deterministically.
"""

from __future__ import annotations

import itertools
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
    best, best_cost = None, None
    if len(order) <= _EXHAUSTIVE_MAX:
        for combo in itertools.product(range(3), repeat=len(order)):
            c = np.asarray(combo)
            shares = np.array([w[c == k].sum() for k in range(3)]) / total
            if np.any(need & (shares == 0)) or np.any(~need & (shares > 0)):
                cost = 10.0 + _cost(shares, target)
            else:
                cost = _cost(shares, target)
            if best_cost is None or cost < best_cost - 1e-12:
                best, best_cost = c, cost
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
        best_cost = _cost(shares, target) + (10.0 if np.any(need & (shares == 0)) else 0.0)
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
