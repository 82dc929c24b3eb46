"""Manifest rows, rejections and their JSONL/Parquet files."""
