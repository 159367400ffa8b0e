"""``farmannot import-vectors``: parcels from a GIS file onto a scene as draft labelme shapes."""

from __future__ import annotations

import click

from farmannot.vectors.importer import ImportOptions, import_vectors, parse_label_map


@click.command("import-vectors")
@click.argument("vector", type=click.Path(dir_okay=False))
@click.option("--scene", required=True, type=click.Path(dir_okay=False),
              help="The scene raster the annotation belongs to (its CRS and transform place the features).")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              help="The labelme annotation JSON to write.")
@click.option("--layer", default=None, help="Layer to read from a multi-layer file (GeoPackage).")
@click.option("--label-field", default=None, help="Attribute holding each feature's label.")
@click.option("--label", default=None, help="One label for every feature (default: the 'label' field, else farmland).")
@click.option("--label-map", default=None, metavar="OLD=NEW,...", help="Rename labels, e.g. crop=farmland,fallow=farmland.")
@click.option("--merge", is_flag=True, help="Add to the existing annotation at --output without duplicating shapes.")
@click.option("--overwrite", is_flag=True, help="Replace an existing annotation at --output.")
@click.option("--assume-crs", default=None, metavar="EPSG",
              help="CRS of a file that declares none, e.g. EPSG:4326.")
@click.option("--simplify", "simplify_px", type=click.FloatRange(0, None), default=0.5, show_default=True,
              help="Simplification tolerance in pixels (0 keeps every vertex).")
@click.option("--min-area", "min_area_px", type=click.FloatRange(0, None), default=0.5, show_default=True,
              help="Drop parts and holes smaller than this many square pixels.")
def command(vector, scene, output, layer, label_field, label, label_map, merge, overwrite, assume_crs,
            simplify_px, min_area_px):
    """Import the polygons of VECTOR (GeoPackage, Shapefile, GeoJSON, FlatGeobuf, GeoParquet) onto a scene.

    Features are reprojected to the scene CRS, clipped to the scene, repaired and simplified; holes become
    later _background_ shapes, multi-part features shapes sharing a group_id; attributes and the source id
    go into each shape's description. Points and lines are reported and skipped.
    """
    if merge and overwrite:
        raise click.UsageError("--merge and --overwrite exclude each other.")
    opts = ImportOptions(label=label, label_field=label_field, label_map=parse_label_map(label_map),
                         assume_crs=assume_crs, simplify_px=simplify_px, min_area_px=min_area_px, layer=layer)
    report = import_vectors(vector, scene, output, opts, merge=merge, overwrite=overwrite)
    click.echo(f"{output}: {report.summary()}", err=True)
