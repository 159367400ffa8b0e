"""The dataset build: project folder in, tiles with labels, captions, prompts, DEM, splits and a card out."""
