"""``farmannot predict``: a trained model over a whole scene -> probability GeoTIFF (+ draft polygons)."""

from __future__ import annotations

from pathlib import Path

import click

from farmannot.cli.locking import locks_output
from farmannot.cli.options import bands_option, parse_band_map, progress_option, sensor_option, torch_device_option
from farmannot.cli.training_options import batch_size_option
from farmannot.errors import FarmannotError
from farmannot.io.space import check_free_space, check_writable
from farmannot.predict.scene import PATCH, PATCH_OVERLAP


@click.command("predict")
@click.argument("run", metavar="RUN_DIR|CHECKPOINT", type=click.Path(exists=True))
@click.argument("scene", type=click.Path(dir_okay=False))
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="Prediction GeoTIFF.")
@sensor_option
@bands_option
@click.option("--patch", type=click.IntRange(32, None), default=PATCH, show_default=True)
@click.option("--overlap", type=click.IntRange(0, None), default=PATCH_OVERLAP, show_default=True)
@batch_size_option(default=4)
@torch_device_option
@click.option("--amp", is_flag=True, help="Mixed precision (CUDA).")
@click.option("--caption", default=None, help="Caption for image+text models (default: a generic one).")
@click.option("--dem", type=click.Path(dir_okay=False), default=None, help="DEM for image+text+dem models.")
@click.option("--polygons", type=click.Path(dir_okay=False), default=None,
              help="Also write the parcels as a draft labelme annotation.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --polygons annotation (edits made to it in "
                                                "labelme are lost).")
@click.option("--min-area-px", type=float, default=16.0, show_default=True)
@click.option("--classes", default=None,
              help="Open vocabulary: comma-separated class names (e.g. 'farmland,terrace,water'); RUN is then a "
                   "CLIP state dict, used frozen; one probability band per class.")
@click.option("--clip-quick-gelu", is_flag=True, help="With --classes: the CLIP weights use QuickGELU (OpenAI's).")
@progress_option(help=None)
@locks_output("predict", folder=False)
def command(run, scene, output, sensor, bands, patch, overlap, batch_size, device, amp, caption, dem, polygons,
            overwrite, min_area_px, classes, clip_quick_gelu, progress):
    """Sliding-window inference of RUN_DIR|CHECKPOINT over SCENE with overlap and smooth blending.

    With --classes, RUN is a CLIP checkpoint and the output holds one probability band per class name
    (HG-RSOVSSeg's templates and position interpolation on a frozen CLIP) and a class band (1-based).

    --sensor/--bands say which bands are red, green and blue, as for build-dataset: give the sensor the
    dataset was built with for this kind of scene, so the model sees the picture its tiles held.
    """
    from farmannot.io.raster import open_raster
    from farmannot.predict.drafts import draft_annotation, refuse_existing
    from farmannot.predict.model_fn import model_predict_fn
    from farmannot.predict.polygons import class_band_polygons
    from farmannot.predict.scene import predict_scene
    from farmannot.train.checkpoint import load_model
    from farmannot.train.preprocess import Preprocess
    from farmannot.train.scene_input import bind_scene

    if overlap >= patch:
        raise click.BadParameter("--overlap must be smaller than --patch")
    band_map = parse_band_map(bands)
    if polygons:
        refuse_existing(polygons, overwrite, "--polygons path")
        check_writable(polygons)  # before the model runs, not after
    if classes is not None:
        from farmannot.predict.open_vocab import predict_classes

        names = [c.strip() for c in classes.split(",") if c.strip()]
        rep = predict_classes(run, scene, output, names, patch=patch, overlap=overlap, batch_size=batch_size,
                              device=device, quick_gelu=clip_quick_gelu, progress=progress,
                              sensor=sensor, bands=band_map)
        click.echo(f"{rep.patches} patch(es), {rep.width} x {rep.height} px, {len(names)} class band(s) "
                   f"{', '.join(names)} + class -> {output}", err=True)
        return
    model, config = load_model(run, device)
    if "dem" in config.get("inputs", "image") and not dem:
        raise FarmannotError(f"{run}: the model was trained with a DEM (inputs {config['inputs']}); give --dem.")
    preprocess = Preprocess.from_config(config, str(run))
    with open_raster(scene) as src:
        scene_prep = bind_scene(preprocess, src, str(scene), sensor=sensor, bands=band_map)
        crs, width, height = src.crs, src.width, src.height
    if scene_prep.note:
        click.echo(f"note: {scene_prep.note}", err=True)
    check_free_space(output, width * height * 2, f"a {width} x {height} px prediction")  # >= 2 bands of a byte

    predict = model_predict_fn(model, config, device, caption, amp)
    read_extra = None
    if dem:
        from farmannot.terrain.align import align_dem

        def read_extra(window_transform, w, h):
            return preprocess.dem(align_dem(dem, crs, window_transform, w, h).elevation)

    rep = predict_scene(scene, output, predict, ["parcel_probability"], band_indexes=scene_prep.band_indexes,
                        normalise=scene_prep.apply,
                        patch=patch, overlap=overlap, batch_size=batch_size,
                        threshold=float(config.get("threshold", 0.5)), progress=progress, extra=read_extra)
    click.echo(f"{rep.patches} patch(es), {width} x {height} px, parcel fraction {rep.parcel_fraction:.3f} "
               f"-> {output}", err=True)
    if polygons:
        drafts = class_band_polygons(output, band=2, min_area_px=min_area_px)
        draft_annotation(scene, polygons, drafts, method="model-prediction",
                         inputs={"run": Path(run).name, "patch": patch, "overlap": overlap})
        click.echo(f"{len(drafts)} draft parcel(s) -> {polygons}", err=True)
