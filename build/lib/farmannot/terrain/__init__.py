"""Terrain: a DEM reprojected, resampled and cropped onto an image grid, registered to the image, and its
derivatives (slope, aspect, hillshade, local relief). See docs/terrain.md."""
