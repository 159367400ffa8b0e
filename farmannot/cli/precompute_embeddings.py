"""``farmannot precompute-embeddings``: fill the SAM embedding cache for a folder (e.g. overnight on a GPU)."""

from __future__ import annotations

import sys

import click
from tqdm import tqdm

from farmannot.cli.options import (
    RASTER_SUFFIXES,
    Failures,
    bands_option,
    expand_inputs,
    keep_going_option,
    parse_band_map,
    progress_option,
)
from farmannot.cli.sam_options import (
    chip_option,
    chip_overlap_option,
    display_options,
    parse_display_bands,
    sam_options,
)
from farmannot.errors import FarmannotError

IMAGE_SUFFIXES = tuple(sorted(set(RASTER_SUFFIXES) | {".png", ".jpg", ".jpeg", ".bmp"}))


@click.command("precompute-embeddings")
@click.argument("inputs", nargs=-1, required=True, metavar="DIR|FILE...")
@sam_options
@display_options
@keep_going_option
@progress_option
@chip_option(help="Large scenes: chip size in scene pixels (native resolution), as `farmannot propose` uses.")
@chip_overlap_option(help="Large scenes: chip overlap in pixels.")
@click.option("--chip-above", type=click.IntRange(1, None), default=None, metavar="PX",
              help="The annotator shows rasters with a side longer than PX as chips (default 8192, as its grid).")
@click.option("--for", "target", type=click.Choice(["all", "annotate", "propose"]), default="all", show_default=True,
              help="annotate: the pictures the annotator embeds (whole images; chips of large scenes). propose: "
                   "the native chip grid `propose` and `propose --points` embed. all: both.")
@bands_option
def command(inputs, sam_checkpoint, sam_model, device, cache_dir, sensor, display_bands, stretch, keep_going,
            progress, chip, overlap, chip_above, target, bands):
    """Compute SAM embeddings of every image under DIR into the cache `annotate` and `propose` read.

    A raster is embedded as the annotator shows it and as the native chip grid `propose` uses (--for picks
    one); give `propose`'s --chip, --overlap, --sensor and --bands so both commands see the same chips.
    """
    from farmannot.sam.imagery import render_picture
    from farmannot.sam.session import session_from_options

    band_map = parse_band_map(bands)
    display = parse_display_bands(display_bands)
    files = expand_inputs(inputs, suffixes=IMAGE_SUFFIXES)
    if not files:
        raise FarmannotError(f"no images found in {', '.join(inputs)}.")
    session = session_from_options(sam_checkpoint, sam_model, device, cache_dir)
    computed = hits = 0
    failures = Failures(keep_going, "precompute-embeddings")
    bar = tqdm(files, desc="embeddings", unit="image", disable=not progress, file=sys.stderr)
    for path in bar:
        bar.set_postfix_str(path.name, refresh=False)
        try:
            # rasters: the chip grid of propose and of the annotator's large-scene views (see _chip_scene)
            chipped, whole = _chip_scene(path, session, chip, overlap, chip_above, sensor, band_map, target,
                                         progress)
            computed, hits = computed + chipped[0], hits + chipped[1]
            if whole:
                pic = render_picture(path, bands=display, stretch=stretch, sensor=sensor, band_map=band_map)
                _, hit = session.embed(pic.rgb)
                hits += hit
                computed += not hit
        except Exception as exc:  # noqa: BLE001 - isolated to this input (see Failures)
            failures.record(path, exc)
            continue
    click.echo(f"{computed} computed, {hits} already cached, {len(failures)} failed; cache: {session.cache.root}",
               err=True)
    failures.report(len(files), "image(s)")


# -- large scenes: per-chip embeddings (scene scale) ------------------------------------------------------


def _chip_scene(path, session, chip: int, overlap: int, chip_above: int | None, sensor: str | None,
                band_map: dict[str, int] | None, target: str, progress: bool) -> tuple[tuple[int, int], bool]:
    """``((computed, hits) of the chips, whether the whole picture is wanted too)`` for one image.

    Chips (every raster unless ``target`` is ``annotate``; always for a raster the annotator shows as chips),
    pictures and keys are those of ``farmannot propose``, ``propose --points`` and the annotator's scene
    views (:mod:`farmannot.sam.chip_embed`), so each hits this cache. The whole picture is what the annotator
    embeds for any other image.
    """
    from farmannot.io.raster import open_raster
    from farmannot.sam.chip_embed import LARGE_SCENE_PX, is_large, precompute_chips
    from farmannot.sam.chips import chip_grid
    from farmannot.sam.imagery import is_raster_path

    if overlap >= chip:
        raise click.BadParameter("--overlap must be smaller than --chip")
    if not is_raster_path(path):
        return (0, 0), target != "propose"
    with open_raster(path) as src:
        large = is_large(src.width, src.height, chip_above or LARGE_SCENE_PX)
        n = len(chip_grid(src.width, src.height, chip, overlap))
    whole = not large and target != "propose"
    if not large and target == "annotate":
        return (0, 0), whole
    with tqdm(total=n, desc=f"chips of {path.name}", unit="chip", disable=not progress, leave=False,
              file=sys.stderr) as bar:
        return precompute_chips(path, session, chip, overlap, sensor=sensor, band_map=band_map,
                                on_chip=lambda _hit: bar.update()), whole
