"""``farmannot prompts``: SPIE spectral attribute prompts for scenes, one JSONL record per (tile, category)."""

from __future__ import annotations

import json
import sys
from typing import get_args

import click
from tqdm import tqdm

from farmannot.cli.options import (
    Failures,
    bands_option,
    expand_inputs,
    keep_going_option,
    parse_band_map,
    sensor_option,
    tile_size_option,
)
from farmannot.errors import FarmannotError
from farmannot.io.atomic import atomic_open
from farmannot.spectral.indices import CATEGORIES
from farmannot.spectral.prompt import PromptFormat
from farmannot.spectral.regions import BBoxMode
from farmannot.spectral.scene import ALL_CATEGORIES, scene_prompt_records


@click.command("prompts")
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@sensor_option
@bands_option
@click.option("--category", type=click.Choice([*CATEGORIES, "all"]), default="all",
              show_default=True, help="Which land cover to describe.")
@click.option("--bbox", type=click.Choice(get_args(BBoxMode)), default="axis", show_default=True,
              help="Axis-aligned box (paper) or rotated minimum-area rectangle (released demo).")
@click.option("--format", "fmt", type=click.Choice(get_args(PromptFormat)), default="spex", show_default=True,
              help="spex: the released demo's Python-literal list; json: full precision with pixel values.")
@tile_size_option()
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="JSONL file to write (default: standard output).")
@keep_going_option
def command(inputs, sensor, bands, category, bbox, fmt, tile_size, output, keep_going):
    """SPIE spectral prompts (NDVI/NDWI/NDBI -> Otsu -> regions -> instruction) for INPUT files or folders."""
    overrides = parse_band_map(bands)
    files = expand_inputs(inputs)
    if not files:
        raise FarmannotError(f"no raster files found in {', '.join(inputs)}.")
    categories = ALL_CATEGORIES if category == "all" else (category,)
    failures = Failures(keep_going, "prompts")
    n_records = 0
    n_empty = 0

    def on_skip(path, cat, why):
        click.echo(f"note: {path}: {cat} skipped: {why}", err=True)

    def run(out):
        nonlocal n_records, n_empty
        for path in tqdm(files, desc="scenes", unit="scene", disable=len(files) < 2, file=sys.stderr):
            try:  # a scene's records are written only once all of them are made: no partial scene
                recs = list(scene_prompt_records(path, categories, sensor, overrides, tile_size, bbox, fmt, on_skip))
            except Exception as exc:  # noqa: BLE001 - isolated to this input (see Failures)
                failures.record(path, exc)
                continue
            for rec in recs:
                out.write(json.dumps(rec, ensure_ascii=False) + "\n")
                n_records += 1
                if not rec["regions"]:
                    n_empty += 1

    if output:
        with atomic_open(output) as fh:
            run(fh)
        click.echo(f"wrote {n_records} record(s) to {output}", err=True)
        failures.write(f"{output}.errors.json")
    else:
        run(sys.stdout)
    if n_empty:
        click.echo(f"note: {n_empty} record(s) have no regions (all-nodata or constant tiles; see 'note').",
                   err=True)
    failures.report(len(files))
