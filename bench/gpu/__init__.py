"""The GPU checks run on a lent machine (`bash bench/gpu/run_checks.sh`; see bench/README.md)."""
