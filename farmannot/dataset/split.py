"""Group-aware train/val/test split: no group (region) in two splits, shares as close to the ratio as possible.

With up to 12 groups every assignment is tried (3^12 = 531,441); above that a seeded greedy fill
(largest groups first) is used. Among equally good assignments the seed decides, deterministically.
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
