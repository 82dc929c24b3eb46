"""Building a voice's dataset: its inputs (sources, the inbox, keys), the per-book stages, the
per-voice assembly and the aligned dataset."""
