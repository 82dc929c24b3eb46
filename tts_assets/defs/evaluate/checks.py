"""Every new Qwen3 and XTTS checkpoint is evaluated: figures as check metadata, with their trend.

Each check speaks the held-out sentences with the voice's newest checkpoint and measures them
(`tts_assets.evaluate`): word error rate, speaker similarity, duration sanity. It fails (severity
ERROR, red in the UI) when a threshold of the `evaluation:` settings is not met; a passing
checkpoint is promoted to the served `latest.json`, a failing one is not. It is not blocking: the
samples of a failing checkpoint are still made, to listen to what went wrong. They speak on the
GPU, so they are GPU steps (pool `gpu`, a GPU requested on Kubernetes) like training.

The checks are not partitioned (the voice is the run's partition key), like the project's other
checks: a job whose selection mixes partitioned and unpartitioned checks cannot be built.
"""


import dagster as dg

from tts_assets.defs.gpu import GPU_OP_TAGS, GPU_POOL, on_a_free_card
from tts_assets.defs.qwen3.assets import qwen3_checkpoint
from tts_assets.defs.resources import TtsAssetsResource
from tts_assets.defs.xtts.assets import xtts_checkpoint
from tts_assets.errors import TtsAssetsError
from tts_assets.models import paths as evaluation_paths
from tts_assets.models.promotion import read_history, read_promoted

FIGURES = ("wer", "wer_max", "speaker_similarity", "speaker_similarity_min", "real_speaker_similarity",
           "seconds_per_char_mean", "seconds_per_char_max", "speech_seconds_per_char_min", "audio_seconds",
           "real_time_factor")
TREND = ("wer", "speaker_similarity", "seconds_per_char_max", "speech_seconds_per_char_min")


def _number(value) -> dg.MetadataValue:
    return dg.MetadataValue.int(value) if isinstance(value, int) and not isinstance(value, bool) else \
        dg.MetadataValue.float(float(value))


def _trend(history: list[dict]) -> tuple[list[dict], str]:
    rows = [{"checkpoint": h["checkpoint"], "passed": h["passed"],
             **{k: h["figures"].get(k) for k in TREND if k in h["figures"]}} for h in history]
    columns = ["checkpoint", "passed", *[k for k in TREND if any(k in r for r in rows)]]

    def cell(value):
        return f"{value:.3f}" if isinstance(value, float) else ("—" if value is None else str(value))

    table = "\n".join("| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows)
    return rows, f"| {' | '.join(columns)} |\n|{'---|' * len(columns)}\n{table}"


def _sentences(rows: list[dict]) -> str:
    lines = ["| text | heard | WER | similarity | s | s/char |", "|---|---|---|---|---|---|"]
    for r in rows:
        similarity = f"{r['speaker_similarity']:.3f}" if "speaker_similarity" in r else "—"
        heard = r["transcript"].replace("|", "/") or "(nothing)"
        lines.append(f"| {r['text'].replace('|', '/')} | {heard} | {r['wer']:.2f} | {similarity} | "
                     f"{r['seconds']:.2f} | {r['seconds_per_char']:.3f} |")
    return "\n".join(lines)


def evaluate_newest(context: dg.AssetCheckExecutionContext, tts: TtsAssetsResource, engine: str) -> dg.AssetCheckResult:
    """Evaluate the voice's (the run's partition's) newest `engine` checkpoint and report it."""
    from tts_assets.evaluate.evaluate import asr_settings_for, evaluate_and_record
    from tts_assets.models.engines import ENGINES

    voice = context.partition_key
    layout = tts.layout()
    error = dg.AssetCheckSeverity.ERROR
    try:
        every = tts.settings(voice)
        settings = every.evaluation
        found = ENGINES[engine].checkpoints(layout, voice)
        if not found:
            return dg.AssetCheckResult(passed=False, severity=error, metadata={"voice": voice},
                                       description=f"{evaluation_paths.engine_dir(layout, voice, engine)}: "
                                                   "no checkpoint to evaluate")
        if settings.device == "auto" and engine == "qwen3":
            settings = settings.model_copy(update={"device": every.qwen3.device})
        asr = asr_settings_for(settings, None if settings.asr_model else every.dataset.asr)
        evaluation, promoted = evaluate_and_record(layout, voice, found[-1], settings, engine=engine, asr=asr)
    except TtsAssetsError as exc:
        return dg.AssetCheckResult(passed=False, severity=error, description=f"evaluation could not run: {exc}",
                                   metadata={"voice": voice, "error": dg.MetadataValue.text(str(exc))})
    history = read_history(layout, voice, engine, last=settings.trend_length)
    trend_rows, trend_table = _trend(history)
    served = read_promoted(layout, voice, engine)
    figures = evaluation.figures
    metadata = {
        "voice": voice,
        "checkpoint": dg.MetadataValue.path(evaluation.checkpoint),
        "step": evaluation.step if evaluation.step is not None else -1,
        "verdict": "pass" if evaluation.passed else "fail",
        "failures": dg.MetadataValue.json(evaluation.failures),
        "promoted": promoted,
        "served_checkpoint": served["checkpoint"] if served else "none promoted (the fallback is served)",
        **{name: _number(figures[name]) for name in FIGURES if name in figures},
        "sentences": figures["sentences"],
        "sentence_source": evaluation.sentence_source,
        "speaker_model": str(evaluation.speaker_model),
        "thresholds": dg.MetadataValue.json(evaluation.thresholds),
        "per_sentence": dg.MetadataValue.md(_sentences(evaluation.sentences)),
        "trend": dg.MetadataValue.md(trend_table),
        "trend_values": dg.MetadataValue.json(trend_rows),
        "report": dg.MetadataValue.path(
            str(evaluation_paths.report_file(layout, voice, engine, evaluation.checkpoint))),
    }
    description = ("all thresholds met; " + ("promoted to latest" if promoted else "a newer checkpoint stays promoted")
                   if evaluation.passed else "; ".join(evaluation.failures) + "; not promoted")
    return dg.AssetCheckResult(passed=evaluation.passed, severity=error, description=description, metadata=metadata)


@dg.asset_check(asset=qwen3_checkpoint, pool=GPU_POOL, op_tags=GPU_OP_TAGS, blocking=False)
@on_a_free_card
def qwen3_checkpoint_evaluation(context: dg.AssetCheckExecutionContext, tts: TtsAssetsResource) -> dg.AssetCheckResult:
    """The newest Qwen3 checkpoint speaks the held-out sentences: word error rate (faster-whisper),
    speaker similarity to the reference, seconds per character; promoted to `latest.json` when
    every threshold is met."""
    return evaluate_newest(context, tts, "qwen3")


@dg.asset_check(asset=xtts_checkpoint, pool=GPU_POOL, op_tags=GPU_OP_TAGS, blocking=False)
@on_a_free_card
def xtts_checkpoint_evaluation(context: dg.AssetCheckExecutionContext, tts: TtsAssetsResource) -> dg.AssetCheckResult:
    """The newest XTTS checkpoint of the voice's run, measured and promoted like Qwen3's (the
    voice's XTTS config is `<data root>/configs/tts/<voice>_xtts.yaml` or $TTS_ASSETS_XTTS_CONFIGS)."""
    return evaluate_newest(context, tts, "xtts")
