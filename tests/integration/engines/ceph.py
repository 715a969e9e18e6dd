"""Engine fixture (being written)."""
