"""``farmannot caption``: fill, suggest, confirm and render the 11-keyword caption of labelme annotations."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from tqdm import tqdm

from farmannot.captions.schema import LANGS, load_vocabulary
from farmannot.cli.options import (
    Failures,
    bands_option,
    keep_going_option,
    parse_band_map,
    progress_option,
    sensor_option,
)
from farmannot.errors import FarmannotError


def _vocab_text() -> str:
    from farmannot.captions.schema import load_vocabulary

    vocab = load_vocabulary()
    lines = []
    for key, spec in vocab.keywords.items():
        fams = [f for f, keys in vocab.families.items() if key in keys]
        lines.append(f"{key}  ({spec.get('attribute', '')}; families: {', '.join(fams)}) - {spec.get('help', '')}")
        if spec.get("free"):
            lines.append("    free text, e.g. 25.34°S, 54.53°W")
        for vid, words in (spec.get("values") or {}).items():
            lines.append(f"    {vid:<28} {words['en']} / {words['zh']}")
    return "\n".join(lines)


def _show(result, langs: list[str]) -> str:
    lines = [str(result.path)]
    for key, kw in result.keywords.items():
        ev = ", ".join(f"{k}={v}" for k, v in kw.evidence.items())
        lines.append(f"  {key:<13} {kw.value:<28} {kw.source:<10} {kw.confidence:4.2f}  {ev}")
    if result.missing:
        lines.append(f"  missing: {', '.join(result.missing)} (use --suggest, --set KEY=VALUE or the plugin)")
        if "month" in result.missing:  # never suggested: it comes from the shooting date
            lines.append("  month: the scene gives no shooting date; pass --date YYYY-MM-DD (or --set month=...)")
    for lang in langs:
        if lang in result.texts:
            lines.append(f"  {lang}: {result.texts[lang]}")
    return "\n".join(lines)


@click.command("caption")
@click.argument("inputs", nargs=-1, metavar="ANNOTATION.json|FOLDER...")
@click.option("--scene", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Georeferenced scene raster (default: the annotation's own image).")
@click.option("--dem", type=click.Path(exists=True, dir_okay=False), default=None,
              help="DEM; aligned to the scene grid for terrain and landscape suggestions.")
@click.option("--lang", type=click.Choice([*LANGS, "both"]), default="both", show_default=True,
              help="Caption language(s) to print.")
@click.option("--family", default="farmseg", show_default=True,
              help="Template family of templates/keywords.yaml: farmseg (FarmSeg-VL, 11 keywords) or terraced "
                   "(GTPBD-MM style terraced parcels). Checked when the command runs, so a broken template "
                   "folder never breaks 'farmannot --help'.")
@click.option("--suggest", is_flag=True, help="Suggest keywords from the mask, bands and DEM (with evidence).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Confirm a keyword by hand (repeatable), e.g. --set water=absent.")
@click.option("--date", default=None, metavar="YYYY-MM-DD", help="Shooting date, overriding the scene's.")
@click.option("--write", is_flag=True, help="Save keywords and captions into the annotation (atomic).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON record per annotation.")
@click.option("--vocab", is_flag=True, help="List the keyword vocabulary and exit.")
@click.option("--farmland-label", "farmland_labels", multiple=True, default=("farmland",), show_default=True,
              help="Shape label(s) that mean farmland.")
@click.option("--allow-outside", is_flag=True, help="Allow imagePath outside the project folder.")
@sensor_option
@bands_option
@keep_going_option
@progress_option
def command(inputs, scene, dem, lang, family, suggest, sets, date, write, as_json, vocab, farmland_labels,
            allow_outside, sensor, bands, keep_going, progress):
    """Caption labelme annotations: month and lat/lon filled from the scene, other keywords suggested or set.

    Prints each keyword with its source (auto / suggested / confirmed), confidence and evidence, then the
    caption. A FOLDER processes every labelme *.json in it (recursively) and is the project folder that
    image paths must stay inside.
    """
    if vocab:
        click.echo(_vocab_text())
        return
    if not inputs:
        raise click.UsageError("give ANNOTATION.json files or folders (or --vocab).")
    from farmannot.captions.annotation import caption_annotation, parse_sets
    from farmannot.io.labelme_json import find_annotations, project_folder, save_annotation

    load_vocabulary().family(family)  # an unknown family: one line naming the known ones
    confirmed = parse_sets(sets)
    band_map = parse_band_map(bands)
    jobs: list[tuple[Path, Path | None]] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            # labelme files only: a dataset or other JSON kept in the project is not an annotation
            jobs += [(q, project_folder(p)) for q in find_annotations(p)]
        elif p.is_file():
            jobs.append((p, None))
        else:
            raise FarmannotError(f"{p}: no such file or folder; check the path.")
    if not jobs:
        raise FarmannotError(f"no labelme annotation files (*.json with shapes) in {', '.join(inputs)}.")
    if scene and len(jobs) > 1:
        raise FarmannotError("--scene applies to one annotation; for folders each annotation's imagePath is used.")
    langs = ["en", "zh"] if lang == "both" else [lang]
    failures = Failures(keep_going, "caption")
    n_missing = 0
    bar = tqdm(jobs, desc="annotations", unit="file", disable=not progress or len(jobs) < 2, file=sys.stderr)
    for path, project in bar:
        try:
            ann, result = caption_annotation(
                path, scene=scene, dem=dem, suggest=suggest, sets=confirmed, date=date, family=family,
                project_dir=project, allow_outside=allow_outside, farmland_labels=farmland_labels,
                sensor=sensor, band_map=band_map)
            if write:
                save_annotation(ann, path)
        except Exception as exc:  # noqa: BLE001 - isolated to this input (see Failures)
            failures.record(path, exc)
            continue
        n_missing += bool(result.missing)
        if as_json:
            rec = {"path": str(path), "keywords": {k: v.to_dict() for k, v in result.keywords.items()},
                   "missing": result.missing, "text": {k: v for k, v in result.texts.items() if k in langs}}
            click.echo(json.dumps(rec, ensure_ascii=False))
        else:
            click.echo(_show(result, langs))
    if write:
        click.echo(f"wrote {len(jobs) - len(failures)} annotation(s)", err=True)
    if n_missing:
        click.echo(f"note: {n_missing} annotation(s) lack keywords; their captions were not rendered.", err=True)
    failures.report(len(jobs), "annotation(s)")
