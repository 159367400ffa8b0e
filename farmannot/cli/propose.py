"""``farmannot propose``: whole-scene SAM proposals as a draft annotation."""

from __future__ import annotations

import sys
from typing import get_args

import click
from tqdm import tqdm

from farmannot.cli.locking import locks_output
from farmannot.cli.options import bands_option, parse_band_map, progress_option, sensor_option, torch_device_option
from farmannot.cli.sam_options import (
    cache_dir_option,
    chip_option,
    chip_overlap_option,
    sam_checkpoint_option,
    sam_model_option,
)
from farmannot.io.raster import check_scene_pixels, open_raster
from farmannot.sam.exemplars import POINT_BOX_PX
from farmannot.sam.propose import ProposeOptions, VegFilter
from farmannot.spectral.indices import CATEGORIES

DEFAULTS = ProposeOptions()


@click.command("propose")
@click.argument("scene", type=click.Path(dir_okay=False))
@sam_checkpoint_option(help="SAM 2.1, SAM or SAM 3 checkpoint (sam2.1_hiera_tiny.pt, sam_vit_b_01ec64.pth, sam3.pt for "
                            "--text ...); or set FARMANNOT_SAM_CHECKPOINT.")
@sam_model_option(help="Model to check the checkpoint against (read off the weights when omitted).")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="labelme JSON to write.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --output (edits made to it in labelme are lost).")
@chip_option
@chip_overlap_option
@click.option("--points-per-side", type=click.IntRange(1, None), default=DEFAULTS.points_per_side, show_default=True)
@click.option("--points-per-batch", type=click.IntRange(1, None), default=None,
              help="Point prompts decoded at once [16 on a CPU, 64 on a GPU].")
@click.option("--text", default=None, metavar="PROMPT",
              help="Concept prompt such as 'farmland parcel' instead of the point grid: every instance on every "
                   "chip, merged across seams (needs a SAM 3 model; see docs/annotate.md). With --points and/or "
                   "--spectral-boxes the text goes with example boxes on each chip.")
@click.option("--spectral-boxes", type=click.Choice(list(CATEGORIES)), default=None, metavar="CATEGORY",
              help="With --text: the category's spectral regions on each chip (index, Otsu, the 10 largest "
                   "regions, as `farmannot prompts`) as example boxes [" + "|".join(CATEGORIES) + "].")
@click.option("--point-box", type=click.FloatRange(1, None, min_open=False), default=POINT_BOX_PX,
              show_default=True, help="With --text and --points: side in pixels of the example box around each point.")
@click.option("--pred-iou-thresh", type=float, default=DEFAULTS.pred_iou_thresh, show_default=True)
@click.option("--stability-thresh", type=float, default=DEFAULTS.stability_score_thresh, show_default=True)
@click.option("--min-area-m2", type=float, default=DEFAULTS.min_area_m2, show_default=True,
              help="Drop proposals smaller than this (square metres; pixels^2 without a CRS).")
@click.option("--filter", "veg_filter", type=click.Choice(get_args(VegFilter)), default=DEFAULTS.veg_filter,
              show_default=True, help="Keep proposals whose mean vegetation index passes (NDVI needs NIR; "
                                      "falls back to greenness).")
@torch_device_option
@cache_dir_option(help="Embedding cache folder.")
@click.option("--points", "points_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Survey points (GeoPackage, Shapefile, GeoJSON, ...): one parcel per point, SAM prompted "
                   "with the point, instead of whole-scene proposals; with --text, a box around each point is an "
                   "example for the text on the chips that hold it.")
@click.option("--layer", default=None, help="Layer of a multi-layer --points file.")
@click.option("--label-field", default=None, help="Attribute of --points holding each parcel's label "
                                                  "[label when the file has it, else farmland].")
@click.option("--assume-crs", default=None, help="CRS of a --points file that declares none (e.g. EPSG:4326).")
@click.option("--overlap-parcels/--keep-apart", default=False, show_default=True,
              help="With --points: let a parcel overlap those found before it, or cut it back (default).")
@sensor_option
@bands_option
@progress_option
@locks_output("propose", folder=False)
def command(scene, sam_checkpoint, sam_model, output, overwrite, chip, overlap, points_per_side, points_per_batch, text,
            spectral_boxes, point_box, pred_iou_thresh, stability_thresh, min_area_m2, veg_filter, device, cache_dir, points_file, layer, label_field,
            assume_crs, overlap_parcels, sensor, bands, progress=True):
    """Pre-annotate SCENE with SAM proposals on native-resolution chips, merged across chip seams.

    With --points, segment one parcel under each survey point instead (labels and attributes from the file).
    With --text and --points, the points are example boxes for the text prompt instead.
    """
    from farmannot.predict.drafts import draft_annotation, refuse_existing
    from farmannot.sam.chips import chip_grid
    from farmannot.sam.propose import ProposeOptions, propose_scene
    from farmannot.sam.session import session_from_options

    if overlap >= chip:
        raise click.BadParameter("--overlap must be smaller than --chip")
    _check_combinations(text, points_file, spectral_boxes)
    refuse_existing(output, overwrite, "--output")
    with open_raster(scene) as src:  # the scene's own refusals before the model loads
        check_scene_pixels(scene, src.width, src.height, "propose")
        n = len(chip_grid(src.width, src.height, chip, overlap))
        if spectral_boxes:  # before any chip is read
            from farmannot.io.raster import scene_info
            from farmannot.sam.propose import check_spectral_bands

            check_spectral_bands(scene_info(src, sensor=sensor, bands=parse_band_map(bands)), spectral_boxes)
    session = session_from_options(sam_checkpoint, sam_model, device, cache_dir)
    if text:
        from farmannot.sam.propose import check_text_support

        check_text_support(session)
    if points_file and not text:
        _propose_at_points(scene, session, output, points_file, layer, label_field, assume_crs,
                           not overlap_parcels, chip, overlap, sensor, bands, progress)
        return
    opts = ProposeOptions(chip=chip, overlap=overlap, points_per_side=points_per_side,
                          points_per_batch=points_per_batch, text=text, pred_iou_thresh=pred_iou_thresh, stability_score_thresh=stability_thresh,
                          min_area_m2=min_area_m2, veg_filter=veg_filter, spectral_boxes=spectral_boxes,
                          point_box_px=point_box)
    pts = _scene_points(scene, points_file, layer, label_field, assume_crs) if points_file else None
    with tqdm(total=n, desc="chips", unit="chip", file=sys.stderr, disable=not progress) as bar:
        res = propose_scene(scene, session, opts, sensor=sensor, bands=parse_band_map(bands), on_chip=bar.update,
                            points_xy=None if pts is None else pts.xy)
    examples = {**({"points": str(points_file), "point_box": point_box} if pts is not None else {}),
                **({"spectral_boxes": spectral_boxes} if spectral_boxes else {})}
    draft_annotation(scene, output, [(p.geometry, p.score) for p in res.proposals],
                     method="sam-text" if text else "sam-proposals",
                     inputs={"model": session.model_id, "chip": chip, "overlap": overlap,
                             **({"text": text, **examples} if text else {"points_per_side": points_per_side}),
                             "filter": res.filter_used})
    if examples:
        click.echo(f"{res.example_boxes} example box(es) with the text"
                   + (f" ({len(pts)} point(s) on the scene" + (f", {len(pts.outside)} off it" if pts.outside else "")
                      + ")" if pts is not None else ""), err=True)
    click.echo(f"{len(res.proposals)} proposal(s) from {res.raw_masks} SAM mask(s) on {res.chips} chip(s) "
               f"({res.cache_hits} embedding(s) from cache; dropped: "
               + ", ".join(f"{k} {v}" for k, v in res.dropped.items()) + f") -> {output}", err=True)


def _check_combinations(text, points_file, spectral_boxes) -> None:
    """One line for options that do not go together (the parameter sources tell a default from a choice)."""
    ctx = click.get_current_context()

    def given(name):
        return ctx.get_parameter_source(name) not in (click.core.ParameterSource.DEFAULT, None)

    if spectral_boxes and not text:
        raise click.UsageError("--spectral-boxes gives example boxes for a text prompt: add --text PROMPT "
                               "(e.g. --text \"farmland parcel\").")
    if given("point_box") and not (text and points_file):
        raise click.UsageError("--point-box sizes the boxes around --points given with --text: add both, or drop it.")
    if text and points_file:
        extra = [f"--{n.replace('_', '-')}" for n in ("label_field", "overlap_parcels") if given(n)]
        if extra:
            raise click.UsageError(f"{' and '.join(extra)} only apply to --points without --text (one parcel per "
                                   "point); with --text the points are example boxes: drop them.")


def _scene_points(scene, points_file, layer, label_field, assume_crs):
    """The survey points of ``points_file`` on the scene's pixel grid (``vectors.points.ScenePoints``)."""
    from farmannot.vectors.importer import ImportOptions, scene_grid
    from farmannot.vectors.points import points_on_scene
    from farmannot.vectors.reader import read_vectors

    return points_on_scene(read_vectors(points_file, layer), scene_grid(scene),
                           ImportOptions(label_field=label_field, assume_crs=assume_crs))


def _propose_at_points(scene, session, output, points_file, layer, label_field, assume_crs, keep_apart, chip,
                       overlap, sensor, bands, progress=True) -> None:
    from farmannot.io.raster import scene_info
    from farmannot.predict.drafts import draft_annotation
    from farmannot.sam.point_parcels import segment_points
    from farmannot.sam.scene_views import LargeScene

    pts = _scene_points(scene, points_file, layer, label_field, assume_crs)
    with open_raster(scene) as src:
        band_map = scene_info(src, sensor=sensor, bands=parse_band_map(bands)).band_map
    large = LargeScene(scene, band_map, chip=chip, chip_overlap=overlap)
    with tqdm(total=len(pts), desc="points", unit="point", file=sys.stderr, disable=not progress) as bar:
        found = segment_points(large, session, pts.xy, keep_apart=keep_apart, on_point=bar.update)
    ok = [f for f in found if f.parcel is not None]
    draft_annotation(scene, output, [(f.parcel.to_shapely(), f.score) for f in ok], method="sam-points",
                     labels=[pts.labels[f.index] for f in ok],
                     attributes=[pts.attributes[f.index] for f in ok],
                     source_ids=[pts.source_ids[f.index] for f in ok],
                     inputs={"model": session.model_id, "chip": chip, "overlap": overlap,
                             "points": str(points_file), "keep_apart": keep_apart})
    missed = [f"{pts.source_ids[f.index]} ({f.status})" for f in found if f.parcel is None]
    notes = []
    if pts.outside:
        notes.append(f"{len(pts.outside)} off the scene")
    if pts.not_points:
        notes.append("not points: " + ", ".join(f"{v} {k}" for k, v in sorted(pts.not_points.items())))
    if missed:
        notes.append(f"{len(missed)} without a parcel")
    click.echo(f"{len(ok)} parcel(s) from {len(pts)} point(s) on the scene"
               + (f" ({'; '.join(notes)})" if notes else "") + f" -> {output}", err=True)
    for m in missed[:20]:
        click.echo(f"  no parcel: {m}", err=True)
