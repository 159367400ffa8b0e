"""GIS vectors <-> labelme shapes: import drafts from GeoPackage/Shapefile/GeoJSON/FlatGeobuf/GeoParquet, export
parcels to the same formats and to fiboa GeoParquet (layer 3)."""
