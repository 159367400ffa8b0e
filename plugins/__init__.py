"""GUI plugins (Qt lives only here)."""
