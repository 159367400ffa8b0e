"""File I/O at the edges: rasters, annotation files, atomic writes."""
