"""``farmannot align-dem``: a DEM reprojected, resampled, cropped (and registered) onto an image's grid."""

from __future__ import annotations

import click

from farmannot.cli.options import progress_option
from farmannot.io.atomic import write_json
from farmannot.terrain.align import RESAMPLING, WINDOW_PX
from farmannot.terrain.scene import BLOCK_PX, DERIVED, parse_derive, write_aligned_dem


@click.command("align-dem")
@click.argument("dem", type=click.Path(dir_okay=False))
@click.option("--to", "target", required=True, type=click.Path(dir_okay=False),
              help="Target raster (the image): the output takes its CRS, transform, width and height.")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="GeoTIFF to write.")
@click.option("--resampling", type=click.Choice(tuple(RESAMPLING)), default="bilinear",
              show_default=True, help="Resampling of the DEM onto the target grid.")
@click.option("--register/--no-register", default=True, show_default=True,
              help="Estimate the residual DEM-to-image offset; apply it only when confident and better.")
@click.option("--max-shift", type=click.FloatRange(0.5, 50), default=3.0, show_default=True,
              help="Registration search bound, target pixels.")
@click.option("--derive", "derive_text", default="", metavar="LAYER,...",
              help=f"Extra bands derived from the aligned DEM: {','.join(DERIVED)}.")
@click.option("--relief-radius", type=click.FloatRange(0, None, min_open=True), default=50.0,
              show_default=True, help="Local relief window radius, metres.")
@click.option("--window-size", type=click.IntRange(BLOCK_PX, None), default=WINDOW_PX, show_default=True,
              help="Pixels per warped window (memory per window, not per scene).")
@click.option("--report", type=click.Path(dir_okay=False), default=None,
              help="JSON report: coverage, vertical units, registration stages, confidence, applied shift.")
@progress_option
def command(dem, target, output, resampling, register, max_shift, derive_text, relief_radius, window_size,
            report, progress):
    """Align DEM onto the grid of the --to raster: reproject, resample, crop, register, derive.

    OUTPUT is float32 with NaN nodata on exactly the target grid; band 1 is elevation in the DEM's vertical
    units, then the --derive layers in the order slope, aspect, hillshade, relief.
    """
    layers = parse_derive(derive_text)
    rep = write_aligned_dem(dem, target, output, resampling=resampling, register=register, derive_layers=layers,
                            relief_radius_m=relief_radius, max_shift_px=max_shift, window_size=window_size,
                            progress=progress)
    if report:
        write_json(report, rep)
    reg = rep["registration"]
    msg = f"wrote {output}: {len(rep['bands'])} band(s), DEM coverage {rep['coverage']:.1%}"
    if reg is not None:
        state = "applied" if reg["applied"] else "not applied"
        msg += (f"; registration dx={reg['dx']:+.3f} dy={reg['dy']:+.3f} px (stage 1 {reg['stage1'][0]:+.2f}, "
                f"{reg['stage1'][1]:+.2f}), confidence {reg['confidence']:.2f}, {state}: {reg['reason']}")
    if rep["vertical_units_assumed"]:
        msg += "; vertical units not recorded in the DEM (metres assumed for derivatives)"
    click.echo(msg, err=True)
