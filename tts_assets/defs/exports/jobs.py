import dagster as dg

from tts_assets.defs.exports.assets import hf_export, lhotse_export, ljspeech_export

# `tts-assets export VOICE --format FORMAT` runs `export_<FORMAT>`.
export_jobs = [
    dg.define_asset_job(f"export_{fmt}", selection=dg.AssetSelection.assets(asset),
                        description=f"A voice's aligned dataset → its {fmt} export.")
    for fmt, asset in (("ljspeech", ljspeech_export), ("hf", hf_export), ("lhotse", lhotse_export))
]
