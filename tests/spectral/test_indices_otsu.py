import numpy as np
import pytest
from skimage.filters import threshold_otsu

from farmannot.spectral.indices import ndbi, ndvi, ndwi, normalized_difference
from farmannot.spectral.otsu import otsu_mask, otsu_threshold


def test_ndvi_hand_computed():
    nir = np.array([[0.5, 0.3], [0.0, 200]], dtype=np.float32)
    red = np.array([[0.1, 0.3], [0.0, 50]], dtype=np.float32)
    out = ndvi(nir, red)
    assert out[0, 0] == pytest.approx(0.4 / 0.6)
    assert out[0, 1] == 0.0
    assert np.isnan(out[1, 0])  # zero denominator is undefined, never inf
    assert out[1, 1] == pytest.approx(150 / 250)


def test_ndwi_and_ndbi_orientation():
    # Water: green > NIR -> positive NDWI. Built-up: SWIR > NIR -> positive NDBI.
    assert ndwi(np.float32([0.08]), np.float32([0.02]))[0] == pytest.approx(0.6)
    assert ndbi(np.float32([0.3]), np.float32([0.2]))[0] == pytest.approx(0.2)


def test_invalid_pixels_become_nan():
    a = np.ones((2, 2), np.float32)
    b = np.zeros((2, 2), np.float32)
    a[0, 0] = np.nan
    valid = np.array([[True, True], [False, True]])
    out = normalized_difference(a, b, valid)
    assert np.isnan(out[0, 0]) and np.isnan(out[1, 0])
    assert out[0, 1] == 1.0 and out[1, 1] == 1.0


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_otsu_matches_scikit_image(seed):
    rng = np.random.default_rng(seed)
    vals = np.concatenate([rng.normal(-0.3, 0.1, 5000), rng.normal(0.4, 0.15, 3000)]).astype(np.float32)
    ours = otsu_threshold(vals)
    ref = threshold_otsu(vals)
    width = (vals.max() - vals.min()) / 256
    assert abs(ours - ref) <= width + 1e-6


def test_otsu_ignores_nan_and_handles_constant_and_empty():
    vals = np.array([0.1, 0.1, 0.9, 0.9, np.nan], np.float32)
    t = otsu_threshold(vals)
    assert 0.1 <= t < 0.9
    assert otsu_threshold(np.full(10, 0.25, np.float32)) == pytest.approx(0.25)
    assert otsu_threshold(np.full(10, np.nan, np.float32)) is None
    m, t = otsu_mask(np.full((4, 4), 0.3, np.float32))
    assert not m.any()
