"""Speech recognition behind one small interface: audio file in, segments with word times out."""
