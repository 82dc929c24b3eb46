"""`tts-assets`: the workflow's commands, running the same Dagster assets the UI shows."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import click

from tts_assets.errors import TtsAssetsError
from tts_assets.layout import DATA_ROOT_ENV, DataLayout, resolve_data_root, slugify
from tts_assets.dataset.keys import claim_voice
from tts_assets.dataset.sources import BookSource, register_book
from tts_assets.export import FORMATS as EXPORT_FORMATS
from tts_assets.text.book_text import read_book_text

data_root_option = click.option(
    "--data-root",
    type=click.Path(file_okay=False),
    default=None,
    help=f"Where inbox/, work/, datasets/ and models/ live (default: ${DATA_ROOT_ENV} or ./data).",
)


def _fail(message: str) -> None:
    click.echo(f"tts-assets: {message}", err=True)
    sys.exit(2)


def _voice_key(voice: str) -> str:
    try:
        return slugify(voice)
    except TtsAssetsError as error:
        _fail(f"voice {error}")


def _use_data_root(data_root: str | None) -> DataLayout:
    """Fix the data root for this process and the Dagster definitions it loads."""
    root = resolve_data_root(data_root)
    os.environ[DATA_ROOT_ENV] = str(root)
    return DataLayout(root)


def _dagster_log_level() -> str:
    """Progress comes from the library's own log lines; Dagster's event stream only with -v."""
    return "DEBUG" if logging.getLogger("tts_assets").level == logging.DEBUG else "CRITICAL"


def _run_dataset_build(layout: DataLayout, voice: str, book: str) -> dict:
    """Materialize the book's assets, then the voice's dataset, recorded in $DAGSTER_HOME."""
    import dagster as dg

    from tts_assets.defs.launch import build_book_and_dataset, failure_reason
    from tts_assets.defs.instance import ensure_dagster_home

    home = ensure_dagster_home(layout.root)
    click.echo(f"building {voice}/{book} (runs recorded in {home})")
    book_run, dataset_run = build_book_and_dataset(dg.DagsterInstance.get(), voice, book, _dagster_log_level())
    if not book_run.success:
        failure = layout.book_failure(voice, book)  # the audio's own error, naming the file
        reason = json.loads(failure.read_text())["error"] if failure.is_file() else failure_reason(book_run)
        _fail(f"book {book!r} failed: {reason} (run {book_run.run_id})")
    if not dataset_run.success:
        _fail(f"dataset of voice {voice!r} failed its checks (run {dataset_run.run_id})")
    return json.loads(layout.dataset_summary(voice).read_text())


def _print_summary(layout: DataLayout, voice: str, summary: dict) -> None:
    click.echo(f"dataset: {layout.dataset_dir(voice)}")
    click.echo(
        f"  {summary['clips']} clips, {summary['hours_out'] * 60:.1f} min of "
        f"{summary['hours_in'] * 60:.1f} min in (yield {summary['yield']:.0%}); "
        f"segments {summary['segments_accepted']} accepted + {summary['segments_rejected']} "
        f"rejected = {summary['segments_total']}"
    )
    for reason, count in summary["rejections_by_reason"].items():
        click.echo(f"  rejected {reason}: {count}")


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Also show Dagster's event stream.")
def main(verbose: bool) -> None:
    """Audiobooks and curated clips → TTS datasets and voices, as Dagster assets."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    library_log = logging.getLogger("tts_assets")
    library_log.addHandler(handler)
    library_log.setLevel(logging.DEBUG if verbose else logging.INFO)


@main.command()
@click.argument("audio", type=click.Path(dir_okay=False))
@click.argument("voice")
@click.option("--segments-jsonl", type=click.Path(dir_okay=False), help="Use these segments (start, end, text) instead of ASR.")
@click.option("--asr-model", help="faster-whisper model name, or a local CTranslate2 folder (offline).")
@click.option("--language", help="Language code (default: detect).")
@click.option("--verify-asr-model", help="A second faster-whisper model (name or folder) that hears every transcribed "
                                         "segment again; segments it hears otherwise are rejected (asr_disagreement).")
@click.option("--book-text", type=click.Path(dir_okay=False),
              help="The book's own text (.txt, .md or .epub): clips found in it carry its words.")
@data_root_option
def ingest(audio, voice, segments_jsonl, asr_model, language, verify_asr_model, book_text, data_root) -> None:
    """Build VOICE's dataset from the audiobook AUDIO (m4b/m4a/mp3/wav/flac)."""
    layout = _use_data_root(data_root)
    audio_path = Path(audio)
    if not audio_path.is_file():
        _fail(f"{audio}: no such file")
    for given in (segments_jsonl, book_text):
        if given and not Path(given).is_file():
            _fail(f"{given}: no such file")
    try:
        if book_text:  # a text that cannot be read fails here, before any transcription
            read_book_text(book_text)
        voice = claim_voice(layout, voice)
        source = BookSource("audiobook", str(audio_path), segments_jsonl, asr_model=asr_model, language=language,
                            verify_asr_model=verify_asr_model, book_text=book_text)
        book = register_book(layout, voice, source)
        summary = _run_dataset_build(layout, voice, book)
    except TtsAssetsError as error:
        _fail(str(error))
    _print_summary(layout, voice, summary)
    if book_text:
        _print_book_text(layout, voice, book)


def _print_book_text(layout: DataLayout, voice: str, book: str) -> None:
    report = json.loads(layout.book_text_report(voice, book).read_text())
    clips = json.loads(layout.book_summary(voice, book).read_text())
    from_book = clips["clips_by_text_source"].get("book", 0)
    click.echo(
        f"  book text: {report['coverage']:.0%} of its words found in the audio; {from_book} of "
        f"{clips['clips']} clips carry its words, and the ASR alone would have got "
        f"{clips['clips_corrected_by_book']} of them wrong; {report['segments']['text_mismatch']} "
        f"segments rejected text_mismatch ({layout.book_text_report(voice, book)})"
    )


@main.command("ingest-transcript")
@click.argument("audio_dir", type=click.Path(file_okay=False))
@click.argument("transcripts_jsonl", type=click.Path(dir_okay=False))
@click.argument("voice")
@data_root_option
def ingest_transcript(audio_dir, transcripts_jsonl, voice, data_root) -> None:
    """Build VOICE's dataset from curated clips in AUDIO_DIR and a JSONL of {audio_file, text}."""
    layout = _use_data_root(data_root)
    if not Path(audio_dir).is_dir():
        _fail(f"{audio_dir}: no such folder")
    if not Path(transcripts_jsonl).is_file():
        _fail(f"{transcripts_jsonl}: no such file")
    try:
        voice = claim_voice(layout, voice)
        source = BookSource("curated", str(audio_dir), transcripts_jsonl=str(transcripts_jsonl))
        book = register_book(layout, voice, source)
        summary = _run_dataset_build(layout, voice, book)
    except TtsAssetsError as error:
        _fail(str(error))
    _print_summary(layout, voice, summary)


def _run_voice_job(layout: DataLayout, job: str, voice: str, what: str, asset_config=None):
    """Run a per-voice job through Dagster; exit 2 with the first failure's message."""
    import dagster as dg

    from tts_assets.defs.launch import failure_reason, run_voice_job
    from tts_assets.defs.instance import ensure_dagster_home

    ensure_dagster_home(layout.root)
    run = run_voice_job(dg.DagsterInstance.get(), job, voice, _dagster_log_level(), asset_config)
    if not run.success:
        _fail(f"{what} voice {voice!r} failed: {failure_reason(run)} (run {run.run_id})")
    return run


@main.command()
@click.argument("voice")
@click.option("--language", help="Language of the text (default: align.language, else the one the books were transcribed in).")
@click.option("--aligner", type=click.Choice(["auto", "pocketsphinx", "whisperx", "whisper"]),
              help="Aligner backend (default: align.backend).")
@click.option("--align-model", help="The aligner's model, a name or a local folder: Whisper's for --aligner "
                                    "whisper, else WhisperX's wav2vec2 model.")
@data_root_option
def align(voice, language, aligner, align_model, data_root) -> None:
    """Align VOICE's dataset: normalized text, word times, refined cuts, quality filters, split."""
    layout = _use_data_root(data_root)
    voice = _voice_key(voice)
    if not layout.train_manifest(voice).is_file():
        _fail(f"no dataset for voice {voice!r} under {layout.root}; run `tts-assets ingest` first")
    choice = {"language": language, "aligner": aligner, "align_model": align_model}
    _run_voice_job(layout, "align_voice", voice, "aligning", {"aligned_dataset": choice})
    summary = json.loads(layout.aligned_summary(voice).read_text())
    click.echo(f"aligned dataset: {layout.aligned_manifest(voice)}")
    click.echo(
        f"  {summary['clips_kept']} of {summary['clips_in']} clips kept ({summary['train']} train, "
        f"{summary['val']} val), {summary['hours_kept'] * 60:.1f} min, aligner {summary['aligner']} "
        f"({summary['align_model']}, {summary['language']}), mean score {summary['mean_align_score']:.2f}"
    )
    for name, count in summary["clips_by_aligner"].items():
        click.echo(f"  aligned by {name}: {count}")
    for reason, count in summary["rejections_by_reason"].items():
        click.echo(f"  rejected {reason}: {count}")


@main.command()
@click.argument("voice")
@click.option("--format", "fmt", type=click.Choice(list(EXPORT_FORMATS)), required=True,
              help="ljspeech (coqui's ljspeech formatter), hf (a datasets audiofolder) or lhotse (manifests).")
@click.option("--out", type=click.Path(file_okay=False),
              help="The export's folder (default: <data root>/datasets/VOICE/exports/FORMAT); if it exists, "
                   "it must be empty or an earlier export.")
@data_root_option
def export(voice, fmt, out, data_root) -> None:
    """Export VOICE's aligned dataset, split as aligned, for other trainers (clips hard-linked)."""
    from tts_assets.export import EXPORT_RECORD

    layout = _use_data_root(data_root)
    voice = _voice_key(voice)
    if not layout.aligned_manifest(voice).is_file():
        _fail(f"no aligned dataset for voice {voice!r} under {layout.root}; run `tts-assets align {voice}` first")
    folder = Path(out).resolve() if out else layout.export_dir(voice, fmt)
    _run_voice_job(layout, f"export_{fmt}", voice, "exporting", {f"{fmt}_export": {"out": str(folder) if out else ""}})
    record = json.loads((folder / EXPORT_RECORD).read_text())
    click.echo(f"{fmt} export: {folder}")
    click.echo(f"  {record['clips']['train']} train + {record['clips']['val']} val clips "
               f"({record['minutes']['train']} + {record['minutes']['val']} min); audio {record['linked']} "
               f"hard-linked, {record['copied']} copied")


base_model_option = click.option(
    "--base-model", help="Qwen3-TTS base model: a local folder (offline) or a hub id (online)."
)


@main.command("convert-qwen3")
@click.argument("voice")
@base_model_option
@data_root_option
def convert_qwen3(voice, base_model, data_root) -> None:
    """Encode VOICE's aligned clips into Qwen3-TTS 12 Hz audio codes (manifest + NumPy store)."""
    from tts_assets.qwen3.paths import codes_manifest, codes_summary

    layout = _use_data_root(data_root)
    voice = _voice_key(voice)
    if not layout.aligned_manifest(voice).is_file():
        _fail(f"no aligned dataset for voice {voice!r} under {layout.root}; run `tts-assets align` first")
    _run_voice_job(layout, "convert_qwen3", voice, "encoding", {"qwen3_codes": {"base_model": base_model}})
    summary = json.loads(codes_summary(layout, voice).read_text())
    click.echo(f"codes manifest: {codes_manifest(layout, voice)}")
    click.echo(f"  {summary['clips']} clips, {summary['frames']} frames; reference {summary['reference']}")


@main.command("train-qwen3")
@click.argument("voice")
@base_model_option
@click.option("--epochs", type=int)
@click.option("--gpus", type=click.IntRange(min=1), help="Train on this many GPUs (data parallel).")
@click.option("--batch-size", type=int, help="Clips per micro-batch of each GPU.")
@click.option("--grad-accum", type=int, help="Micro-batches per optimizer step.")
@click.option("--lr", type=float)
@click.option("--max-steps", type=int, default=0, help="Stop after this many optimizer steps (0: all epochs).")
@data_root_option
def train_qwen3(voice, base_model, epochs, gpus, batch_size, grad_accum, lr, max_steps, data_root) -> None:
    """Fine-tune Qwen3-TTS on VOICE (resumes from the last checkpoint), then speak the samples."""
    from tts_assets.qwen3.checkpoint import checkpoints
    from tts_assets.qwen3.paths import codes_manifest, run_dir

    layout = _use_data_root(data_root)
    voice = _voice_key(voice)
    if not codes_manifest(layout, voice).is_file():
        _fail(f"no audio codes for voice {voice!r}; run `tts-assets convert-qwen3 {voice}` first")
    config = {"base_model": base_model, "epochs": epochs, "gpus": gpus, "batch_size": batch_size,
              "grad_accum": grad_accum, "lr": lr, "max_steps": max_steps}
    _run_voice_job(layout, "train_qwen3", voice, "training", {"qwen3_checkpoint": config})
    click.echo(f"checkpoint: {checkpoints(run_dir(layout, voice))[-1]}")
    click.echo(f"TensorBoard logs: {run_dir(layout, voice) / 'tensorboard'}")


@main.command("train-xtts")
@click.argument("config", type=click.Path(dir_okay=False))
@data_root_option
def train_xtts(config, data_root) -> None:
    """Fine-tune XTTS-v2 on a voice's aligned dataset, as its CONFIG (<data root>/configs/tts/<voice>_xtts.yaml) says."""
    from tts_assets.defs.xtts.jobs import XTTS_JOB_ASSETS
    from tts_assets.xtts import paths
    from tts_assets.xtts.base_model import check_base_model
    from tts_assets.xtts.config import XttsVoiceConfig

    layout = _use_data_root(data_root)
    try:  # the config and the base files, before any work
        settings = XttsVoiceConfig.load(config)
        check_base_model(settings, layout)
    except TtsAssetsError as error:
        _fail(str(error))
    voice = settings.voice
    if not layout.aligned_manifest(voice).is_file():
        _fail(f"no aligned dataset for voice {voice!r} under {layout.root}; run `tts-assets align {voice}` first")
    for warning in (settings.effective_batch_warning(), settings.mixed_precision_warning()):
        if warning:
            click.echo(f"warning: {warning}", err=True)
    click.echo(f"training XTTS-v2 voice {voice}; TensorBoard logs in {paths.xtts_models_dir(layout, voice)}")
    source = {"config_file": str(Path(settings.source).resolve())}
    _run_voice_job(layout, "train_xtts", voice, "training",
                   {name: source for name in XTTS_JOB_ASSETS["train_xtts"]})
    summary = json.loads(paths.latest_training(layout, voice).read_text())
    export = json.loads(paths.export_summary(layout, voice).read_text())
    click.echo(f"export: {paths.export_dir(layout, voice)} ({export['train']} train + {export['eval']} eval clips, "
               f"{export['rejected']} rejected {export['rejections_by_reason'] or ''})")
    click.echo(f"checkpoint: {summary['last_checkpoint']} (step {summary['step']}, epoch {summary['epoch']}/"
               f"{summary['epochs']}, train loss {summary['train_loss']}, eval loss {summary['eval_loss']})")
    if summary.get("best_checkpoint"):
        click.echo(f"best: {summary['best_checkpoint']} (loss {summary['best_loss']})")
    if summary.get("resumed_step") is not None and not summary.get("already_done"):
        click.echo(f"resumed from step {summary['resumed_step']}")
    samples = paths.latest_samples(layout, voice)
    if samples.is_file():
        click.echo(f"samples: {json.loads(samples.read_text())['folder']}")


@main.command()
@click.argument("model", type=click.Path(exists=True))
@click.argument("out_wav", type=click.Path(dir_okay=False))
@click.option("--text", help="What to say (default: a sample sentence).")
@click.option("--speaker", help="Qwen3: speaker name (default: the checkpoint's voice).")
@click.option("--checkpoint", help="XTTS: best, last or a checkpoint file (default: the config's samples.checkpoint).")
@click.option("--max-new-tokens", type=int, default=600, show_default=True,
              help="Qwen3: cap on generated frames (12.5 per second).")
@data_root_option
def infer(model, out_wav, text, speaker, checkpoint, max_new_tokens, data_root) -> None:
    """Speak TEXT into OUT_WAV with MODEL: a Qwen3-TTS checkpoint folder, or an XTTS voice config YAML."""
    from tts_assets.atomic import write_wav_atomic

    path = Path(model)
    try:
        if path.suffix in (".yaml", ".yml"):
            from tts_assets.xtts.inference import infer_from_config

            result = infer_from_config(_use_data_root(data_root), path, Path(out_wav), text, checkpoint)
            click.echo(f"{result['path']}: {result['seconds']} s from {result['checkpoint']} (step {result['step']})")
            return
        if not (path / "config.json").is_file():
            _fail(f"{model}: neither a Qwen3-TTS checkpoint folder (no config.json) nor an XTTS voice config")
        from tts_assets.qwen3.inference import Qwen3Voice

        text = text or "The quick brown fox jumps over the lazy dog."
        audio, rate = Qwen3Voice(path).speak(text, speaker, max_new_tokens=max_new_tokens)
    except TtsAssetsError as error:
        _fail(str(error))
    write_wav_atomic(Path(out_wav), audio, rate, "PCM_16")
    click.echo(f"{out_wav}: {len(audio) / rate:.2f} s at {rate} Hz")


@main.command()
@click.argument("port", type=int, default=6006)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (0.0.0.0 exposes it).")
@data_root_option
def tensorboard(port, host, data_root) -> None:
    """Serve every training log under the data root's models/ with TensorBoard."""
    layout = _use_data_root(data_root)
    logdir = layout.root / "models"
    logdir.mkdir(parents=True, exist_ok=True)
    executable = Path(sys.executable).parent / "tensorboard"
    click.echo(f"TensorBoard on http://{host}:{port} for {logdir}")
    os.execv(str(executable), [str(executable), "--logdir", str(logdir), "--host", host, "--port", str(port)])


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; anything but loopback wants --api-key.")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--device", default=None, help="auto | cpu | cuda | cuda:N (default: serve.device).")
@click.option("--api-key", envvar="TTS_ASSETS_API_KEY", default=None, help="Require 'Authorization: Bearer KEY' on all but /health (an empty key is refused).")
@click.option("--require-promoted", is_flag=True, help="Serve only checkpoints that passed evaluation.")
@data_root_option
def serve(host, port, device, api_key, require_promoted, data_root) -> None:
    """Serve trained voices over an OpenAI-style API (POST /v1/audio/speech, GET /v1/voices, GET /health)."""
    from tts_assets.serve.server import serve as run_server

    try:
        run_server(data_root, host, port, device=device, api_key=api_key, require_promoted=require_promoted or None)
    except TtsAssetsError as error:
        _fail(str(error))


@main.command()
@click.option("--host", default=None, help="Address to bind (default: review.host, 127.0.0.1); anything but loopback needs --api-key.")
@click.option("--port", default=None, type=int, help="Port (default: review.port, 8100).")
@click.option("--api-key", envvar="TTS_ASSETS_API_KEY", default=None, help="Require the key (Bearer header, or ?token=KEY once in the browser).")
@data_root_option
def review(host, port, api_key, data_root) -> None:
    """Listen to each voice's clips and rejections in the browser; reject, restore or correct them."""
    from tts_assets.review.app import review as run_review

    try:
        run_review(_use_data_root(data_root).root, host, port, api_key=api_key)
    except TtsAssetsError as error:
        _fail(str(error))


@main.command()
@click.argument("voice")
@data_root_option
def report(voice, data_root) -> None:
    """Print VOICE's dataset summary."""
    layout = _use_data_root(data_root)
    voice = _voice_key(voice)
    summary_path = layout.dataset_summary(voice)
    if not summary_path.is_file():
        _fail(f"no dataset for voice {voice!r} under {layout.root}")
    _print_summary(layout, voice, json.loads(summary_path.read_text()))


@main.command("make-sample")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--repeat", default=1, show_default=True, type=click.IntRange(min=1),
              help="Read the text this many times (longer book).")
def make_sample(out_dir, repeat) -> None:
    """Write a sample two-chapter audiobook (Piper voice, known text) into OUT_DIR."""
    from tts_assets.sample_book import make_sample_audiobook

    book = make_sample_audiobook(Path(out_dir), repeat=repeat)
    click.echo(f"{book.audio} ({book.duration / 60:.1f} min); truth: {book.truth}; book text: {book.text}")
