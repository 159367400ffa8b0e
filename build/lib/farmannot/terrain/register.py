"""Residual registration of an aligned DEM to its image: coarse to fine, reported stage by stage.

Georeferencing puts a DEM within a pixel or two of the image; relief seen in the image (sunlit and shaded
slopes) pins down the rest. The image is modelled as Lambertian shading of the DEM under an unknown sun,
with an unknown gain and offset: ``image ~ o + c0/N + c1*p/N + c2*q/N`` where ``p, q`` are the DEM's east
and north gradients and ``N = sqrt(1 + p^2 + q^2)`` (any sun direction is a choice of ``c0..c2``, so the
sun need not be known).

1. Stage 1, coarse: upsampled phase correlation (scikit-image) between the image and that shading fitted
   at zero shift, Hann-windowed; accepted only inside the search bound ``max_shift_px``.
2. Stage 2, fine: Lucas-Kanade least squares from the stage-1 estimate: each iteration refits the shading
   coefficients and the offset together with the shift increment, until it moves less than 0.001 px.

The shift is applied only when the final fit is confident (correlation between image and shading at
least ``min_confidence``), stays inside the bound, agrees with stage 1 within a pixel, and removes at least
``min_improvement`` of the unexplained image variance; otherwise nothing moves. Both stages are always
reported. REFERENCES.md section 3 has the measurement behind this design: phase correlation alone recovered
(0.28, 0.40) px of a planted (0.6, 0.4) px offset, least squares recovered (0.600, 0.400).

Convention: ``(dx, dy)`` is the shift to apply to the DEM, in target pixels, x to the right (columns), y
down (rows): a feature at DEM pixel ``(c, r)`` moves to ``(c + dx, r + dy)``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from affine import Affine
from scipy import ndimage
from skimage.filters import window
from skimage.registration import phase_cross_correlation

from farmannot.terrain.derive import gradient, pixel_size_m

MIN_VALID_PX = 256


@dataclass
class Registration:
    """The estimated residual offset between a DEM and its image, and what was done with it.

    Attributes:
        dx: final (stage 2) shift estimate in target pixels, to the right.
        dy: final shift estimate in target pixels, downwards.
        stage1: the coarse phase-correlation estimate ``(dx, dy)``.
        confidence: correlation (0..1) between the image and the DEM shading after the final shift.
        applied: whether the shift was applied (see :attr:`applied_offset`).
        improvement: fraction of the image variance left unexplained at zero shift that the final shift
            explains (0 = no better, 1 = perfect); negative means the shift made agreement worse.
        correlation_before: image/shading correlation at zero shift (same pixels as ``confidence``).
        iterations: least-squares iterations run.
        converged: whether the least squares converged inside the search bound.
        max_shift_px: the search bound.
        reason: why the shift was or was not applied.
        stage1_in_bounds: whether the stage-1 estimate lay inside the bound (else stage 2 started at zero).
        stage1_method: ``"phase"`` (phase-normalised) or ``"none"`` (plain) cross-correlation, the better fit.
        sigma_px: standard error of the final shift if residuals were independent (a lower bound).
        quadrants_improved: in how many image quadrants (with enough pixels) the shift improved agreement.
    """

    dx: float
    dy: float
    stage1: tuple[float, float]
    confidence: float
    applied: bool
    improvement: float
    correlation_before: float = float("nan")
    iterations: int = 0
    converged: bool = False
    max_shift_px: float = 3.0
    reason: str = ""
    stage1_in_bounds: bool = False
    stage1_method: str = ""
    sigma_px: float = float("nan")
    quadrants_improved: str = ""

    @property
    def applied_offset(self) -> tuple[float, float]:
        """``(dx, dy)`` if applied, else ``(0.0, 0.0)``."""
        return (self.dx, self.dy) if self.applied else (0.0, 0.0)

    def to_dict(self) -> dict:
        """JSON-ready dict (floats rounded to 6 decimals, enough to reproduce the warp; NaN as None)."""
        def clean(v):
            if isinstance(v, float):
                return None if not math.isfinite(v) else round(v, 6)
            if isinstance(v, (tuple, list)):
                return [clean(x) for x in v]
            return v

        d = {k: clean(v) for k, v in asdict(self).items()}
        d["applied_offset"] = clean(self.applied_offset)
        return d


def shading_basis(dem: np.ndarray, xres_m, yres_m: float) -> np.ndarray:
    """The three shading images ``1/N, p/N, q/N`` of a DEM (stacked on axis 0); any Lambertian hillshade
    without cast shadows is a linear combination of them."""
    p, q = gradient(dem, xres_m, yres_m)
    n = np.sqrt(1.0 + p * p + q * q)
    return np.stack([1.0 / n, p / n, q / n])


def apply_offset(dem: np.ndarray, dx: float, dy: float, order: int = 3) -> np.ndarray:
    """Shift a DEM array by ``(dx, dy)`` pixels (right, down) with spline interpolation; NaN stays nodata.

    Pixels that the shift brings in from outside the array, or that take any weight from nodata, become
    NaN. (To shift while warping from the source DEM instead, pass ``offset_px`` to ``align_dem``.)
    """
    z = np.asarray(dem, dtype=np.float64)
    valid = np.isfinite(z)
    filled = _fill_nearest(z, valid)
    out = ndimage.shift(filled, (dy, dx), order=order, mode="nearest")
    vmask = ndimage.shift(valid.astype(np.float64), (dy, dx), order=1, mode="constant", cval=0.0)
    out[vmask < 0.999] = np.nan
    return out.astype(np.float32)


def _fill_nearest(z: np.ndarray, valid: np.ndarray) -> np.ndarray:
    if valid.all():
        return z.copy()
    if not valid.any():
        return np.zeros_like(z)
    idx = ndimage.distance_transform_edt(~valid, return_distances=False, return_indices=True)
    return z[tuple(idx)]


# The least squares below avoid BLAS on purpose: on a busy machine a multi-threaded BLAS spins on dot
# products of this size (measured 2.5x slower); einsum's plain loops are quick and predictable.
def _lstsq(y: np.ndarray, cols: list[np.ndarray]) -> tuple[np.ndarray, tuple]:
    """Least squares ``y ~ c0 + sum(c_k * cols[k])`` on centred, scaled columns (well conditioned even when
    a column is nearly constant). Returns the coefficients and what :func:`_shift_sigma` needs."""
    x = np.stack(cols, axis=1)
    xm, ym = x.mean(axis=0), y.mean()
    x -= xm
    sd = np.sqrt(np.einsum("ij,ij->j", x, x) / len(y))
    sd[sd == 0] = 1.0
    x /= sd
    g = np.einsum("ij,ik->jk", x, x)
    cs, *_ = np.linalg.lstsq(g, np.einsum("ij,i->j", x, y - ym), rcond=None)
    c = cs / sd
    resid = (y - ym) - np.einsum("ij,j->i", x, cs)
    return np.concatenate([[ym - float(np.einsum("j,j->", xm, c))], c]), (resid, g, sd)


def _shift_sigma(fit_info: tuple) -> float:
    """Standard error (px) of the last two coefficients, for independent residuals (a lower bound)."""
    resid, g, sd = fit_info
    dof = max(1, len(resid) - len(sd) - 1)
    try:
        cov = np.linalg.inv(g) * float(np.einsum("i,i->", resid, resid)) / dof
    except np.linalg.LinAlgError:
        return float("inf")
    var = cov[-2, -2] / sd[-2] ** 2 + cov[-1, -1] / sd[-1] ** 2
    return float(math.sqrt(max(0.0, var)))


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = math.sqrt(float(np.einsum("i,i->", a, a)) * float(np.einsum("i,i->", b, b)))
    return float(np.einsum("i,i->", a, b)) / den if den > 0 else 0.0


class _Model:
    """Image, DEM and the shading fit at a given shift, on a fixed interior region."""

    def __init__(self, image, dem, xres, yres, smooth_px, margin):
        # Pixels near nodata see filled values through the spline, Horn's stencil and the smoothing.
        grow = 1 + int(math.ceil(3 * smooth_px))
        self.image_valid = ~ndimage.binary_dilation(~np.isfinite(image), iterations=grow)
        self.dem_valid = ~ndimage.binary_dilation(~np.isfinite(dem), iterations=grow + 3)
        self.image = _fill_nearest(np.asarray(image, np.float64), np.isfinite(image))
        self.dem = _fill_nearest(np.asarray(dem, np.float64), np.isfinite(dem))
        if smooth_px > 0:
            self.image = ndimage.gaussian_filter(self.image, smooth_px)
        self.xres, self.yres, self.smooth = xres, yres, smooth_px
        self.interior = np.zeros(image.shape, bool)
        self.interior[margin:image.shape[0] - margin, margin:image.shape[1] - margin] = True
        self._cache: dict = {}

    def basis(self, d):
        key = (float(d[0]), float(d[1]))
        if key not in self._cache:
            if len(self._cache) > 4:
                self._cache.clear()
            self._cache[key] = self._basis(key)
        return self._cache[key]

    def _basis(self, d):
        dem = ndimage.shift(self.dem, (d[1], d[0]), order=3, mode="nearest") if any(d) else self.dem
        b = shading_basis(dem, self.xres, self.yres)
        if self.smooth > 0:
            b = np.stack([ndimage.gaussian_filter(x, self.smooth) for x in b])
        ok = ndimage.shift(self.dem_valid.astype(float), (d[1], d[0]), order=1, cval=0.0) >= 0.999
        return b, ok & self.image_valid & self.interior

    def fit(self, d, mask=None):
        b, ok = self.basis(d)
        m = ok if mask is None else mask
        coef, _ = _lstsq(self.image[m], [x[m] for x in b])
        shading = coef[0] + coef[1] * b[0] + coef[2] * b[1] + coef[3] * b[2]
        return shading, b, ok


def estimate_offset(
    image_gray: np.ndarray,
    dem: np.ndarray,
    transform: Affine,
    max_shift_px: float = 3.0,
    *,
    crs=None,
    smooth_px: float = 0.0,
    min_confidence: float = 0.3,
    min_improvement: float = 0.001,
    upsample_factor: int = 100,
    max_iterations: int = 15,
) -> Registration:
    """Estimate the residual shift that best lines ``dem`` up with ``image_gray`` (same grid, same shape).

    Args:
        image_gray: one image band or the mean of its bands, NaN where invalid.
        dem: the DEM aligned to the image grid (e.g. ``align_dem(...).elevation``), NaN nodata, metres.
        transform: the grid's affine transform (pixel size for the gradients).
        max_shift_px: search bound; estimates beyond it are never applied.
        crs: the grid's CRS; give it for a geographic grid so gradients use metres. Without it the transform
            is taken to be in metres.
        smooth_px: Gaussian sigma applied to the image and the shading alike (for images much finer than
            the DEM, about half the DEM-to-image pixel ratio).
        min_confidence: least correlation between image and shading for the shift to be applied.
        min_improvement: least fraction of unexplained variance the shift must remove to be applied.
        upsample_factor: phase-correlation precision is 1/upsample_factor px.
        max_iterations: least-squares iterations at most.

    Returns:
        A :class:`Registration`; ``applied_offset`` is the shift to use (zero when not applied).
    """
    image_gray = np.asarray(image_gray, dtype=np.float64)
    dem = np.asarray(dem, dtype=np.float64)
    if image_gray.shape != dem.shape or image_gray.ndim != 2:
        raise ValueError(f"image and DEM must be 2-D arrays of one shape, got {image_gray.shape} and {dem.shape}")
    if crs is not None:
        xres, yres = pixel_size_m(crs, transform, dem.shape[0])
    else:
        xres, yres = abs(transform.a), abs(transform.e)
    bound = float(max_shift_px)
    reg = Registration(0.0, 0.0, (0.0, 0.0), 0.0, False, 0.0, max_shift_px=bound)
    margin = int(math.ceil(bound)) + 2
    if min(dem.shape) <= 2 * margin + 8:
        reg.reason = f"grid too small to register ({dem.shape[1]} x {dem.shape[0]} px)"
        return reg
    model = _Model(image_gray, dem, xres, yres, smooth_px, margin)
    s0, _, ok0 = model.fit((0.0, 0.0))
    if ok0.sum() < MIN_VALID_PX:
        reg.reason = f"too few pixels with both image and DEM ({int(ok0.sum())})"
        return reg
    relief = shading_basis(model.dem, xres, yres)[:, ok0]
    if np.std(model.image[ok0]) == 0 or float(np.ptp(relief, axis=1).max()) < 1e-6:
        reg.reason = "image or DEM shading is constant: no relief to register on"
        return reg

    # Stage 1: upsampled correlation of the image against the zero-shift shading (Hann window, invalid
    # pixels at the mean). Phase normalisation is sharp on textured relief but fails on smooth, narrow-band
    # terrain where the plain cross-correlation still finds the basin: both run, the better fit is kept.
    win = window("hann", dem.shape)
    ref = np.where(ok0, model.image - model.image[ok0].mean(), 0.0) * win
    mov = np.where(ok0, s0 - s0[ok0].mean(), 0.0) * win
    best = None
    for norm in ("phase", None):
        shift, _, _ = phase_cross_correlation(ref, mov, upsample_factor=upsample_factor, normalization=norm)
        cand = (float(shift[1]), float(shift[0]))
        if math.hypot(*cand) > bound:
            score = -np.inf
        else:
            fitted, _, ok = model.fit(cand)
            score = _corr(model.image[ok], fitted[ok])
        if best is None or score > best[0]:
            best = (score, cand, norm or "none")
    _, reg.stage1, reg.stage1_method = best
    reg.stage1_in_bounds = bool(math.hypot(*reg.stage1) <= bound)

    # Stage 2: Lucas-Kanade with the shading coefficients, gain and offset refitted every iteration.
    d = np.array(reg.stage1 if reg.stage1_in_bounds else (0.0, 0.0))
    converged = False
    it = 0
    for it in range(1, max_iterations + 1):
        shading, b, ok = model.fit(tuple(d))
        gy, gx = np.gradient(shading)
        y = model.image[ok]
        coef, info = _lstsq(y, [x[ok] for x in b] + [-gx[ok], -gy[ok]])
        step = coef[-2:]
        d = d + step
        if math.hypot(*d) > bound:
            break
        if math.hypot(*step) < 1e-3:
            converged = True
            break
    reg.dx, reg.dy = float(d[0]), float(d[1])
    reg.iterations, reg.converged = it, converged
    reg.sigma_px = _shift_sigma(info)

    # Agreement before and after, on the pixels valid in both.
    _, ok_d = model.basis((reg.dx, reg.dy))
    common = ok0 & ok_d
    before, _, _ = model.fit((0.0, 0.0), common)
    after, _, _ = model.fit((reg.dx, reg.dy), common)
    r0 = _corr(model.image[common], before[common])
    r1 = _corr(model.image[common], after[common])
    reg.correlation_before, reg.confidence = r0, max(0.0, r1)
    unexplained0, unexplained1 = 1.0 - r0 * r0, 1.0 - r1 * r1
    reg.improvement = 1.0 - unexplained1 / unexplained0 if unexplained0 > 1e-12 else 0.0

    # The same comparison in each quadrant: a real offset helps everywhere there is relief, a fit to noise
    # or to one odd feature does not.
    h2, w2 = dem.shape[0] // 2, dem.shape[1] // 2
    better, counted = 0, 0
    for rows, cols in ((slice(0, h2), slice(0, w2)), (slice(0, h2), slice(w2, None)),
                       (slice(h2, None), slice(0, w2)), (slice(h2, None), slice(w2, None))):
        q = np.zeros_like(common)
        q[rows, cols] = common[rows, cols]
        if q.sum() < MIN_VALID_PX:
            continue
        qb, _, _ = model.fit((0.0, 0.0), q)
        qa, _, _ = model.fit((reg.dx, reg.dy), q)
        counted += 1
        better += _corr(model.image[q], qa[q]) > _corr(model.image[q], qb[q])
    reg.quadrants_improved = f"{better}/{counted}"

    stage_gap = math.hypot(reg.dx - reg.stage1[0], reg.dy - reg.stage1[1])
    if not converged:
        reg.reason = "least squares left the search bound or did not converge"
    elif reg.confidence < min_confidence:
        reg.reason = f"low confidence ({reg.confidence:.3f} < {min_confidence})"
    elif reg.stage1_in_bounds and stage_gap > 1.0:
        reg.reason = f"stages disagree by {stage_gap:.2f} px"
    elif counted and better < math.ceil(0.75 * counted):
        reg.reason = f"improves agreement in only {better} of {counted} quadrants"
    elif reg.improvement < min_improvement:
        reg.reason = f"shift does not improve agreement enough ({reg.improvement:.4f} < {min_improvement})"
    else:
        reg.applied = True
        reg.reason = "confident and improves agreement"
    return reg
