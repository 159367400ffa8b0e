"""``farmannot export-vectors``: parcels (with captions) to GeoPackage, GeoJSON, Shapefile, FlatGeobuf or fiboa."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from tqdm import tqdm

from farmannot.cli.locking import locks_output
from farmannot.cli.options import keep_going_option, progress_option
from farmannot.errors import InputError
from farmannot.vectors.exporter import ExportOptions, export_vectors
from farmannot.vectors.fiboa import FIBOA_VERSION
from farmannot.vectors.parcels import FIBOA_METHODS
from farmannot.vectors.writers import FORMATS, format_from_path, format_suffix


@click.command("export-vectors")
@click.argument("source", type=click.Path(exists=True), metavar="ANNOTATION.json|ANNOTATION_DIR|DATASET_DIR")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False), help="The file to write.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="Output format (default: from the output suffix, else gpkg). fiboa: fiboa "
                   f"{FIBOA_VERSION} GeoParquet.")
@click.option("--crs", default=None, help="Output CRS (default: the scene CRS; EPSG:4326 when scenes differ). "
                                          "GeoJSON is always EPSG:4326.")
@click.option("--labels", default=None, metavar="A,B", help="Export only parcels with these labels.")
@click.option("--collection", default=None, help="fiboa collection id (default: the output file name).")
@click.option("--determination-datetime", default=None, metavar="YYYY-MM-DD",
              help="fiboa determination date for annotations without a scene date.")
@click.option("--determination-method", type=click.Choice(FIBOA_METHODS), default=None,
              help="fiboa determination method (default: from each annotation's provenance).")
@click.option("--project", type=click.Path(exists=True, file_okay=False), default=None,
              help="For a dataset: the project folder build-dataset read (default: the one its build report "
                   "records, else found beside the dataset).")
@click.option("--allow-outside", is_flag=True,
              help="Let imagePath point outside the project folder (the folder given, or the annotation's; "
                   "annotations/ counts as the project above it).")
@keep_going_option
@progress_option
@locks_output("export-vectors", folder=False)
def command(source, output, fmt, crs, labels, collection, determination_datetime, determination_method,
            project, allow_outside, keep_going, progress):
    """Export the parcels of annotations (or of a built dataset, with a tiles layer) for QGIS and fiboa.

    One feature per parcel: holes restored from _background_ shapes, parts joined by group_id, with label,
    parcel id, area (m2), perimeter (m), scene, date, caption text and keywords.
    """
    implied = format_from_path(output)
    if fmt and implied and implied != fmt:
        raise InputError(f"{output}: its suffix {Path(output).suffix} names {implied}, not --format {fmt}; "
                         f"name the file for the format (e.g. {Path(output).stem}{format_suffix(fmt)}), or drop "
                         f"--format to write {implied}.")
    fmt = fmt or implied or "gpkg"
    opts = ExportOptions(
        fmt=fmt, crs=crs, labels={s.strip() for s in labels.split(",") if s.strip()} if labels else None,
        keep_going=keep_going, allow_outside=allow_outside, collection=collection,
        determination_datetime=determination_datetime, determination_method=determination_method,
        project=Path(project) if project else None,
    )

    def bar(items):
        return tqdm(items, desc="annotations", unit="file", file=sys.stderr, disable=not progress or len(items) < 2)

    report = export_vectors(source, output, opts, progress=bar)
    click.echo(report.summary(), err=True)
    if report.failed:
        raise SystemExit(1)
