"""Parcels of annotations (a file, a folder, or a built dataset) to GIS files (``farmannot export-vectors``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from farmannot.dataset.manifest import MANIFEST
from farmannot.errors import InputError, note_input, one_line
from farmannot.io.atomic import is_temporary
from farmannot.vectors.parcels import AnnotationGeo, ParcelTable, build_parcel_table, crs_text, georeference
from farmannot.vectors.reader import parse_crs
from farmannot.vectors.writers import FORMATS, Layer, write_layers


@dataclass
class ExportOptions:
    """What to write and how.

    Attributes:
        fmt: One of :data:`~farmannot.vectors.writers.FORMATS`.
        crs: Output CRS for gpkg/shp/fgb/fiboa (default: the scenes' CRS when shared, else EPSG:4326);
            GeoJSON is always EPSG:4326 (RFC 7946).
        labels: Keep only parcels with these labels (None: every label except ``_background_``/``__ignore__``).
        keep_going: Skip unreadable annotations (listed in the report) instead of stopping.
        allow_outside: Let an annotation's ``imagePath`` leave its folder (only needed without farmannot.scene).
        collection: fiboa collection id (default: the output file's stem).
        determination_datetime: fiboa date for annotations without a scene date.
        determination_method: fiboa method overriding the one read from provenance.
        project: For a dataset: the project folder it was built from (annotations are listed relative to it).
    """

    fmt: str = "gpkg"
    crs: str | None = None
    labels: set[str] | None = None
    keep_going: bool = False
    allow_outside: bool = False
    collection: str | None = None
    determination_datetime: str | None = None
    determination_method: str | None = None
    project: Path | None = None


@dataclass
class ExportReport:
    """What an export wrote."""

    files: list[Path] = field(default_factory=list)
    annotations: int = 0
    parcels: int = 0
    tiles: int = 0
    crs: str = ""
    failed: list[str] = field(default_factory=list)
    skipped_shapes: dict[str, int] = field(default_factory=dict)
    out_of_range: list[str] = field(default_factory=list)

    def summary(self) -> str:
        msg = (f"{self.parcels} parcels from {self.annotations} annotation(s)"
               + (f", {self.tiles} tiles" if self.tiles else "")
               + f" in {self.crs} -> {', '.join(str(f) for f in self.files)}")
        if self.skipped_shapes:
            msg += "; not areas, skipped: " + ", ".join(f"{n} {k}" for k, n in sorted(self.skipped_shapes.items()))
        if self.out_of_range:
            msg += f"; {len(self.out_of_range)} parcels outside fiboa's area/perimeter range left out"
        if self.failed:
            msg += f"; {len(self.failed)} annotation(s) failed: " + "; ".join(self.failed[:5])
        return msg


def find_annotations(folder: Path) -> list[Path]:
    """labelme annotation files under ``folder`` (recursive, sorted): JSON files with a ``shapes`` key, and
    those that cannot be read (so that loading them says why, rather than their parcels going missing)."""
    out = []
    for p in sorted(q for q in folder.rglob("*.json") if not is_temporary(q.name)):
        try:
            with open(p, "rb") as fh:
                head = fh.read(1 << 16)
        except OSError:
            out.append(p)
            continue
        if b'"shapes"' in head:  # whatever the text's encoding (a file saved as Latin-1 fails to load, loudly)
            out.append(p)
    return out


def load_georeferenced(paths: list[Path], root: Path | None, options: ExportOptions,
                       report: ExportReport) -> list[AnnotationGeo]:
    """Georeference each annotation; with ``keep_going`` failures are listed instead of raised."""
    geos = []
    for p in paths:
        try:
            geos.append(georeference(p, project_dir=root, allow_outside=options.allow_outside))
        except Exception as exc:  # noqa: BLE001 - any failure stays with its annotation
            if not options.keep_going:
                raise note_input(exc, p)
            report.failed.append(one_line(exc, p))
    return geos


def parcels_layer(table: ParcelTable, name: str = "parcels") -> Layer:
    return Layer(name, table.geometry, table.columns, table.crs)


def write_parcels(output: Path, table: ParcelTable, options: ExportOptions, report: ExportReport,
                  extra_layers: list[Layer] | None = None) -> None:
    """Write the parcel table (and e.g. a tiles layer) in the chosen format."""
    if options.fmt == "fiboa":
        from farmannot.vectors.fiboa import write_fiboa

        fr = write_fiboa(output, table, collection=options.collection,
                         determination_datetime=options.determination_datetime,
                         determination_method=options.determination_method)
        report.parcels = fr.written
        report.out_of_range = fr.out_of_range
        report.files = [output]
        if extra_layers:  # fiboa holds parcels only; the tiles go to a GeoPackage beside it
            report.files += write_layers(output.with_name(f"{output.stem}_tiles.gpkg"), "gpkg", extra_layers)
        return
    report.files = write_layers(output, options.fmt, [parcels_layer(table), *(extra_layers or [])])
    report.parcels = len(table)


def export_vectors(source: str | os.PathLike, output: str | os.PathLike,
                   options: ExportOptions | None = None,
                   progress: Callable[[list[Path]], list[Path]] | None = None) -> ExportReport:
    """Export the parcels of an annotation, a folder of annotations, or a built dataset.

    Args:
        source: ``ANNOTATION.json``, a folder of annotations, or a dataset folder (with ``manifest.parquet``).
        output: The file to write.
        options: Format, CRS, label filter, fiboa settings.
        progress: Wraps the list of annotations (e.g. a tqdm progress bar).

    Raises:
        InputError: missing source, no annotations, an unknown format, or a bad annotation (without keep_going).
    """
    options = options or ExportOptions()
    if options.fmt not in FORMATS:
        raise InputError(f"--format {options.fmt!r}: choose one of {', '.join(FORMATS)}.")
    source, output = Path(source), Path(output)
    if options.crs is not None:
        options = replace(options, crs=crs_text(parse_crs(options.crs, "--crs")))
    report = ExportReport()
    if source.is_dir() and (source / MANIFEST).exists():
        from farmannot.vectors.dataset import export_dataset

        return export_dataset(source, output, options, report, progress)
    if source.is_dir():
        paths, root = find_annotations(source), source
        if not paths:
            raise InputError(f"{source}: no labelme annotation (.json with shapes) in this folder.")
    elif source.exists():
        paths, root = [source], None
    else:
        raise InputError(f"{source}: no such file or folder; check the path.")
    geos = load_georeferenced(progress(paths) if progress else paths, root, options, report)
    if not geos:
        raise InputError(f"{source}: no annotation could be exported: " + "; ".join(report.failed[:3]))
    names = [g.path.relative_to(root).as_posix() if root else g.path.name for g in geos]
    crs = "EPSG:4326" if options.fmt == "geojson" else options.crs
    table = build_parcel_table(geos, crs=crs, label_filter=options.labels,
                               names=[n[:-5] if n.endswith(".json") else n for n in names])
    report.annotations, report.crs, report.skipped_shapes = len(geos), table.crs, table.skipped
    if not len(table):
        raise InputError(f"{source}: the annotation(s) hold no parcels"
                         + (f" with label(s) {', '.join(sorted(options.labels))}" if options.labels else "") + ".")
    write_parcels(output, table, options, report)
    return report
