"""captions.measures.label_components against scikit-image's connected-component labelling."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.measure import label as sk_label

from farmannot.captions.measures import label_components

# scikit-image's connectivity: 1 = the 4 edge neighbours, 2 = all 8 neighbours
SKIMAGE = {4: 1, 8: 2}


@pytest.mark.parametrize("connectivity", [4, 8])
def test_components_and_areas_equal_skimage(connectivity):
    rng = np.random.default_rng(7)
    mask = rng.random((64, 80)) < 0.45
    lab, areas = label_components(mask, 1, connectivity)
    ref = sk_label(mask, connectivity=SKIMAGE[connectivity])
    assert lab.max() == ref.max() == len(areas)
    # the same partition of the pixels: each of ours is exactly one of skimage's
    pairs = {(a, b) for a, b in zip(lab[mask].tolist(), ref[mask].tolist())}
    assert len(pairs) == ref.max()
    assert sorted(areas.tolist()) == sorted(np.bincount(ref[mask])[1:].tolist())


def test_diagonal_neighbours_are_two_parts_in_4_connectivity():
    mask = np.zeros((4, 4), bool)
    mask[0, 0] = mask[1, 1] = True
    assert label_components(mask, 1, 4)[0].max() == 2
    assert label_components(mask, 1, 8)[0].max() == 1


def test_specks_below_min_px_dropped():
    mask = np.zeros((10, 10), bool)
    mask[0:3, 0:3] = True  # 9 px
    mask[6, 6] = True  # 1 px
    lab, areas = label_components(mask, 2)
    assert areas.tolist() == [9] and lab[6, 6] == 0 and (lab[0:3, 0:3] == 1).all()
