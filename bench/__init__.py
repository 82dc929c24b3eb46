"""Benchmarks and the GPU checks: scripts, not part of the installed package. Run each from the
repository root as `python -m bench.<name>` (see bench/README.md)."""
