"""Spectral attribute prompts (SPIE, as defined by the SPEX paper): indices -> Otsu -> regions -> text."""
