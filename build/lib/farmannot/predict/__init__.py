"""Scene-scale inference: sliding windows with blending, windowed I/O, polygons as draft annotations."""
