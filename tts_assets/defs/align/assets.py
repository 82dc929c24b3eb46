"""Alignment and quality: the voice's dataset with word times, refined cuts, filters and a split."""

import dagster as dg

from tts_assets.dataset.aligned import align_voice_dataset
from tts_assets.quality.dnsmos_report import report_markdown
from tts_assets.defs.ingest.assets import voice_dataset
from tts_assets.defs.partitions import voice_partitions
from tts_assets.defs.gpu import GPU, on_a_free_card
from tts_assets.defs.failures import step_failure
from tts_assets.defs.resources import TtsAssetsResource
from tts_assets.errors import TtsAssetsError


class AlignRunConfig(dg.Config):
    """Per-run choices over the `align:` settings (`tts-assets align --language/--aligner/--align-model`)."""

    language: str | None = None
    aligner: str | None = None  # auto | pocketsphinx | whisperx | whisper
    align_model: str | None = None  # the Whisper aligner's model for aligner whisper, else the wav2vec2 one


def dnsmos_metadata(dnsmos: dict | None, png, listen) -> dict:
    if dnsmos is None:  # quality.min_dnsmos_ovrl: null
        return {}
    return {"low_quality": dnsmos["low_quality"], "dnsmos_floor": dnsmos["floor"],
            "dnsmos_report": dg.MetadataValue.md(report_markdown(dnsmos, png, listen))}


@dg.asset(
    partitions_def=voice_partitions,
    group_name="align",
    deps=[voice_dataset],
    **GPU,
    kinds={"parquet"},
    # Whenever a voice's dataset changes (a new or rebuilt book), its aligned dataset follows, so
    # the nightly training sees every book without anyone running `tts-assets align`.
    automation_condition=dg.AutomationCondition.eager(),
)
@on_a_free_card
def aligned_dataset(context: dg.AssetExecutionContext, tts: TtsAssetsResource,
                    config: AlignRunConfig) -> dg.MaterializeResult:
    """Every clip forced-aligned (pocketsphinx, WhisperX or Whisper; failed clips retried with the
    next), its text normalized, its cuts refined around the words, quality-filtered and given a
    stable train/val split."""
    voice = context.partition_key
    layout = tts.layout()
    try:
        settings = tts.settings(voice)
        align = settings.dataset.align.choosing(config.aligner, config.align_model, config.language)
        summary = align_voice_dataset(layout, voice, settings.dataset.model_copy(update={"align": align}))
    except TtsAssetsError as error:
        raise step_failure(error) from None
    return dg.MaterializeResult(
        metadata={
            "manifest": dg.MetadataValue.path(str(layout.aligned_manifest(voice))),
            "review_page": dg.MetadataValue.url(settings.review.voice_url(voice)),  # `tts-assets review` serves it
            **{k: v for k, v in summary.items() if k not in ("voice", "rejections_by_reason", "clips_by_aligner", "dnsmos")},
            "rejections_by_reason": dg.MetadataValue.json(summary["rejections_by_reason"]),
            "clips_by_aligner": dg.MetadataValue.json(summary["clips_by_aligner"]),
            **dnsmos_metadata(summary["dnsmos"], layout.aligned_dnsmos_png(voice),
                              lambda text: settings.review.listen_link(voice, text)),
        }
    )
