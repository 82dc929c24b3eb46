"""Per-clip quality measures and the filters that reject clips on them."""
