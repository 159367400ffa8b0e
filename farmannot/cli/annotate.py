"""``farmannot annotate``: labelme 6.3 with SAM, the caption dock and GeoTIFF display; ``--report-times``."""

from __future__ import annotations

import os

import click

from farmannot.cli.sam_options import display_options, parse_display_bands, sam_options
from farmannot.labels.polygonize import DEFAULT_SIMPLIFY_PX


def parse_nodata(text: str) -> float | str | None:
    """``auto`` / ``none`` / a number (``--nodata``)."""
    t = text.strip().lower()
    if t in ("auto", "none"):
        return None if t == "none" else "auto"
    try:
        return float(t)
    except ValueError:
        raise click.BadParameter(f"{text!r}: give auto, none or a number (e.g. 0).", param_hint="--nodata") from None


def parse_percentiles(text: str) -> tuple[float, float]:
    """``LOW,HIGH`` with 0 <= LOW < HIGH <= 100 (``--percentiles``)."""
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise click.BadParameter(f"{text!r}: give LOW,HIGH, e.g. 2,98.", param_hint="--percentiles") from None
    if not 0 <= lo < hi <= 100:
        raise click.BadParameter(f"{text!r}: need 0 <= LOW < HIGH <= 100.", param_hint="--percentiles")
    return lo, hi


def times_report(folder: str) -> str:
    """The text ``--report-times`` prints: per-image active time and the SAM vs manual comparison."""
    from farmannot.sam.annotation_time import read_records, summarize

    per, overall = summarize(read_records(folder))
    if overall["images"] == 0:
        return f"{folder}: no annotation times logged yet (they are written while annotating)."
    lines = [per.to_string(index=False, formatters={"active_s": "{:.1f}".format}), "",
             f"images: {overall['images']}, active time: {overall['total_s'] / 60:.1f} min, "
             f"median per image: {overall['median_s_per_image']:.1f} s"]
    viewed = int((per["mode"] == "viewed").sum())
    if viewed:
        lines.append(f"{viewed} image(s) only viewed (never saved with a shape): left out of the comparison")
    if "speedup" in overall:
        lines.append(f"median with SAM: {overall['median_s_sam']:.1f} s, without: {overall['median_s_manual']:.1f} s, "
                     f"speed-up {overall['speedup']:.2f}x (FarmSeg-VL reports about 1.5x)")
    return "\n".join(lines)


@click.command("annotate", context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
               options_metavar="[OPTIONS] [FILE|DIR] [LABELME OPTIONS]")
@sam_options
@display_options
@click.option("--nodata", default="auto", show_default=True, metavar="auto|none|VALUE",
              help="Pixels the display stretch leaves out and shows black: auto = the file's nodata or mask, "
                   "else a constant collar (DN 0 around Landsat scenes); a value; or none.")
@click.option("--percentiles", default="2,98", show_default=True, metavar="LOW,HIGH",
              help="Percentiles of the scene-wide display stretch.")
@click.option("--simplify-px", type=click.FloatRange(0, None), default=DEFAULT_SIMPLIFY_PX, show_default=True,
              help="Polygon vertex tolerance for SAM masks, in pixels.")
@click.option("--farmland-labels", default="farmland", show_default=True,
              help="Comma-separated labels that count as farmland for caption suggestions.")
@click.option("--dem", type=click.Path(exists=True, dir_okay=False), default=None,
              help="DEM for the terrain and landscape suggestions of every image (default: a project scene's "
                   "own DEM, as build-dataset finds it: scenes.csv column 'dem' or dems/SCENE.tif).")
@click.option("--overlap/--keep-apart", default=False, show_default=True,
              help="Let a new SAM field overlap fields already drawn, or cut it back (default).")
@click.option("--log-times/--no-log-times", default=True, show_default=True,
              help="Log active annotation time per image in FOLDER/.farmannot/annotation-times.jsonl.")
@click.option("--suspects", "suspects", default=None, metavar="AUDIT_DIR",
              help="Open the suspect labels `farmannot audit --output AUDIT_DIR` found, each at its tile in its "
                   "scene annotation (a dock lists them).")
@click.option("--project", default=None, metavar="DIR",
              help="With --suspects: the project folder build-dataset read (default: the one the audit recorded).")
@click.option("--report-times", type=click.Path(exists=True, file_okay=False), default=None, metavar="DIR",
              help="Summarise the annotation times logged under DIR and exit (no window).")
@click.pass_context
def command(ctx, sam_checkpoint, sam_model, device, cache_dir, sensor, display_bands, stretch, nodata, percentiles,
            simplify_px, farmland_labels, dem, overlap, log_times, suspects, project, report_times):
    """Open labelme 6.3 with farmannot's additions on [FILE|DIR|PROJECT].

    A project folder (scenes/, annotations/, scenes.csv) opens its scenes with their annotations from
    annotations/, and Save and labelme's autosave write there, never beside the scenes (docs/annotate.md).

    Every labelme option works as in labelme (--output, --labels, --config, --with-image-data, ...): they are
    passed through. SAM plugs into labelme's AI-Points / AI-Box tools; without --sam-checkpoint the rest of
    the window works and the status bar says how to add one. With --suspects AUDIT_DIR a dock lists the
    audit's suspect tiles; selecting one opens its scene annotation at the tile (docs/annotate.md).
    """
    if report_times:
        click.echo(times_report(report_times))
        return
    if project and not suspects:
        raise click.UsageError("--project goes with --suspects AUDIT_DIR.")
    extra = {}
    if suspects:
        from farmannot_labelme.suspects_dock import load_suspects

        extra["suspects"] = load_suspects(suspects, project)  # bad folders fail here, before any window
    from farmannot.sam.cache import EmbeddingCache
    from farmannot.sam.model import CHECKPOINT_ENV
    from farmannot.sam.session import SamSession

    bands = parse_display_bands(display_bands)
    nodata_value, pct = parse_nodata(nodata), parse_percentiles(percentiles)
    checkpoint = sam_checkpoint or os.environ.get(CHECKPOINT_ENV)
    session = None
    if checkpoint:
        session = SamSession.from_checkpoint(checkpoint, model_type=sam_model, device=device,
                                             cache=EmbeddingCache(cache_dir))
    from farmannot_labelme.launch import launch
    from farmannot_labelme.window import AnnotateOptions

    options = AnnotateOptions(session=session, bands=bands, stretch=stretch, sensor=sensor, nodata=nodata_value,
                              percentiles=pct, simplify_px=simplify_px, dem=dem,
                              keep_apart=not overlap, log_times=log_times, extra=extra,
                              farmland_labels=tuple(s.strip() for s in farmland_labels.split(",") if s.strip()))
    launch(list(ctx.args), options)
