"""Exports other trainers read, as Dagster assets (one per format) and jobs (`export_<format>`)."""
