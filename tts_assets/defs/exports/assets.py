"""Exports other trainers read (LJSpeech, a Hugging Face audiofolder, lhotse manifests), one asset
per format, each from the voice's aligned dataset."""

import dagster as dg

from tts_assets.defs.align.assets import aligned_dataset
from tts_assets.defs.failures import step_failure
from tts_assets.defs.partitions import voice_partitions
from tts_assets.defs.resources import TtsAssetsResource
from tts_assets.errors import TtsAssetsError
from tts_assets.export import export_voice


class ExportConfig(dg.Config):
    out: str = ""  # the export's folder; empty: <data root>/datasets/<voice>/exports/<format>/


def _export_asset(fmt: str, description: str, kind: str) -> dg.AssetsDefinition:
    @dg.asset(name=f"{fmt}_export", partitions_def=voice_partitions, group_name="exports", deps=[aligned_dataset],
              kinds={kind}, description=description)
    def _export(context: dg.AssetExecutionContext, config: ExportConfig, tts: TtsAssetsResource) -> dg.MaterializeResult:
        voice = context.partition_key
        try:
            record = export_voice(tts.layout(), voice, fmt, tts.settings(voice).dataset.align.language, config.out or None)
        except TtsAssetsError as error:
            raise step_failure(error) from None
        return dg.MaterializeResult(metadata={
            "folder": dg.MetadataValue.path(record["folder"]),
            "train": record["clips"]["train"],
            "val": record["clips"]["val"],
            "minutes_train": record["minutes"]["train"],
            "minutes_val": record["minutes"]["val"],
            "sample_rates": dg.MetadataValue.json(record["sample_rates"]),
            "linked": record["linked"],
            "copied": record["copied"],
        })

    return _export


ljspeech_export = _export_asset(
    "ljspeech", "LJSpeech 1.1 layout: wavs/ and metadata_train.csv / metadata_val.csv (id|text as written|"
                "spoken text), as coqui's `ljspeech` formatter reads it.", "csv")
hf_export = _export_asset(
    "hf", "A Hugging Face audiofolder: train/ and validation/ with metadata.jsonl, for "
          "`datasets.load_dataset(folder)`.", "huggingface")
lhotse_export = _export_asset(
    "lhotse", "lhotse RecordingSet, SupervisionSet (word alignments included) and CutSet per split, "
              "<voice>_{recordings,supervisions,cuts}_{train,val}.jsonl.gz.", "json")
