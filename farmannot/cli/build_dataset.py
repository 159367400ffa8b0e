"""``farmannot build-dataset``: a project folder of annotated scenes -> a dataset in several layouts."""

from __future__ import annotations

import click

from farmannot.cli.options import keep_going_option, progress_option
from farmannot.dataset.config import LAYOUTS, load_config
from farmannot.io.windows import TILE_SIZE


@click.command("build-dataset")
@click.argument("project_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--output", "-o", "output", required=True, type=click.Path(file_okay=False),
              help="Dataset folder to write (created; re-runs resume and skip finished scenes).")
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
              help="YAML file with any option below (and label_map, boundary_width, max_nodata, ...); flags win.")
@click.option("--tile-size", type=click.IntRange(16, None), default=None, help=f"Tile edge in pixels [{TILE_SIZE}].")
@click.option("--overlap", type=click.IntRange(0, None), default=None, help="Pixels shared by neighbouring tiles [0].")
@click.option("--layout", "layouts", default=None, metavar="NAME,...",
              help=f"Layouts to write, comma-separated: {', '.join(LAYOUTS)} [all].")
@click.option("--split", default=None, metavar="T:V:T", help="Train:val:test weights [7:2:1].")
@click.option("--group-by", default=None,
              help="scenes.csv column kept within one split, or 'block' for spatial blocks per scene [region].")
@click.option("--block-tiles", type=click.IntRange(1, None), default=None,
              help="Block edge in tiles with --group-by block [2].")
@click.option("--block-buffer", type=click.IntRange(0, None), default=None,
              help="With --group-by block, leave out train tiles this many tiles from a val/test tile [0].")
@click.option("--seed", type=int, default=None, help="Seed of the split [0].")
@click.option("--geotiff/--no-geotiff", default=None, help="Also write GeoTIFF tiles with all bands [off].")
@click.option("--workers", type=click.IntRange(1, None), default=None, help="Local worker processes [1].")
@click.option("--dask-scheduler", default=None, metavar="ADDRESS",
              help="Run scenes on this Dask distributed scheduler (e.g. tcp://10.0.0.5:8786).")
@keep_going_option
@progress_option
def command(project_dir, output, config, tile_size, overlap, layouts, split, group_by, block_tiles, block_buffer,
            seed, geotiff, workers, dask_scheduler, keep_going, progress):
    """Build a dataset from PROJECT_DIR (scenes/, annotations/, optional dems/, scenes.csv).

    Writes the layouts, manifest.parquet, build_report.json, DATASET_CARD.md (with plots) and, when a scene
    fails under --keep-going, errors.json. See docs/build-dataset.md.
    """
    from farmannot.dataset.build import build_dataset

    cfg = load_config(config, {
        "tile_size": tile_size, "overlap": overlap, "layouts": layouts, "split": split, "group_by": group_by,
        "block_tiles": block_tiles, "block_buffer": block_buffer, "seed": seed, "geotiff": geotiff, "workers": workers,
        "dask_scheduler": dask_scheduler, "keep_going": keep_going or None,
    })
    s = build_dataset(project_dir, output, cfg, progress=progress, echo=lambda m: click.echo(m, err=True))
    shares = ", ".join(f"{k} {100 * v:.0f}%" for k, v in s.achieved.items())
    buffered = f", {s.buffered} left out by the block buffer" if s.buffered else ""
    click.echo(f"{s.tiles} tile(s) from {s.scenes} scene(s) in {output} (split {shares}; "
               f"{s.written} file(s) written, {s.unchanged} unchanged, {s.resumed_scenes} scene(s) resumed, "
               f"{s.dropped} tile(s) dropped by filters{buffered})", err=True)
    if s.errors:
        click.echo(f"{len(s.errors)} scene(s) failed (details in {output}/errors.json):", err=True)
        for e in s.errors:
            click.echo(f"  {e['scene']}: {e['reason']}", err=True)
        raise SystemExit(1)
