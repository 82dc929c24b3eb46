"""XTTS-v2 as Dagster assets: the coqui export, the fine-tuned checkpoint (pool `gpu`), samples."""
