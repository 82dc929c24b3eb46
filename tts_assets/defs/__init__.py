"""The Dagster layer: what exists (assets, checks), when it is made (jobs, sensors) and with what."""
