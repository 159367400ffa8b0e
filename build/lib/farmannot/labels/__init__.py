"""Shapes <-> label rasters: labelme shapes to mask / boundary / parcel rasters (and back, in ``polygonize``)."""
