"""Dataset build: per book (voice × book) probe → transcript → clip spans → clips; per voice the
dataset over all its books."""


import dagster as dg

from tts_assets.dataset import book as book_stages
from tts_assets.dataset.voice import assemble_voice_dataset
from tts_assets.defs.partitions import all_books_of_voice, voice_book_partitions, voice_partitions
from tts_assets.defs.gpu import GPU, on_a_free_card
from tts_assets.defs.failures import step_failure
from tts_assets.defs.resources import TtsAssetsResource, voice_and_book
from tts_assets.errors import TtsAssetsError, UnreadableAudioError
from tts_assets.manifest.io import read_jsonl
from tts_assets.manifest.report import duration_histogram_png, png_markdown, rows_markdown

GROUP = "ingest"

# A built book refreshes its voice's dataset (a failed one does too: ingest/sensors.py), once no
# other book of the voice is being built. Unlike `eager()`, neither a new voice (missing) nor a book
# that never built (a missing dependency) requests it: the first would build the dataset before its
# book (a race that left a voice with none of its clips), the second would hold the voice back.
BOOK_BUILT = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("a book of the voice was built")


def _fail_book(tts: TtsAssetsResource, voice: str, book: str, error: TtsAssetsError) -> dg.Failure:
    """Fail only this partition; when the book's audio cannot be decoded, also record that (the
    dataset reports it as the book's rejection). A setup error (a missing model or input file,
    invalid settings) says nothing about the book: recording it would drop the book's earlier
    clips from the dataset, so the run just fails with its message."""
    if isinstance(error, UnreadableAudioError):
        book_stages.record_failure(tts.layout(), voice, book, error)
    return step_failure(error)


@dg.asset(partitions_def=voice_book_partitions, group_name=GROUP, kinds={"audio"})
def source_audio(context: dg.AssetExecutionContext, tts: TtsAssetsResource) -> dg.MaterializeResult:
    """The book's audio as found: duration, sample rate, channels, codec and chapter marks."""
    voice, book = voice_and_book(context)
    try:
        info = book_stages.probe_book(tts.layout(), voice, book, tts.settings(voice).dataset)
    except TtsAssetsError as error:
        raise _fail_book(tts, voice, book, error) from None
    chapters = info.get("chapters", [])
    metadata = {
        "source": dg.MetadataValue.path(info["path"]),
        "duration_s": info["duration"],
        "chapters": len(chapters),
    }
    if info["kind"] == "audiobook":
        metadata |= {k: info[k] for k in ("sample_rate", "channels", "codec", "container")}
        if chapters:
            metadata["chapter_marks"] = dg.MetadataValue.md(rows_markdown(chapters, ["title", "start", "end"]))
    else:
        metadata |= {"files": info["files"], "unreadable_files": info["unreadable_files"]}
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    partitions_def=voice_book_partitions,
    group_name=GROUP,
    deps=[source_audio],
    **GPU,
    kinds={"faster-whisper"},
)
@on_a_free_card
def transcript_segments(context: dg.AssetExecutionContext, tts: TtsAssetsResource) -> dg.MaterializeResult:
    """Speech segments with word times: faster-whisper with VAD, or the user's segments/transcripts."""
    voice, book = voice_and_book(context)
    layout = tts.layout()
    try:
        result = book_stages.transcribe_book(layout, voice, book, tts.settings(voice).dataset)
    except TtsAssetsError as error:
        raise _fail_book(tts, voice, book, error) from None
    return dg.MaterializeResult(
        metadata={
            "segments": result["segments"],
            "made_by": result["made_by"],
            "rejected_input_lines": result["rejected_lines"],
            "path": dg.MetadataValue.path(str(layout.transcript_file(voice, book))),
        }
    )


@dg.asset(partitions_def=voice_book_partitions, group_name=GROUP, deps=[transcript_segments])
def located_segments(context: dg.AssetExecutionContext, tts: TtsAssetsResource) -> dg.MaterializeResult:
    """The segments found in the book's own text, carrying its words; how much of it the audio reads."""
    voice, book = voice_and_book(context)
    layout = tts.layout()
    try:
        report = book_stages.locate_book(layout, voice, book, tts.settings(voice).dataset.book_text)
    except TtsAssetsError as error:
        raise _fail_book(tts, voice, book, error) from None
    if report is None:
        return dg.MaterializeResult(metadata={"book_text": "none: clips carry the transcript's text"})
    return dg.MaterializeResult(
        metadata={
            "book_text": dg.MetadataValue.path(report["book_text"]),
            "coverage": report["coverage"],
            "segments_from_book": report["segments"]["book"],
            "segments_asr": report["segments"]["asr"],
            "segments_text_mismatch": report["segments"]["text_mismatch"],
            "segments_corrected": report["segments_corrected"],
            "seconds": report["seconds"],
            "longest_unmatched": dg.MetadataValue.md(
                rows_markdown(report["longest_unmatched"], ["words", "first_word", "excerpt"])),
            "path": dg.MetadataValue.path(str(layout.located_file(voice, book))),
        }
    )


@dg.asset(partitions_def=voice_book_partitions, group_name=GROUP, deps=[located_segments])
def merged_segments(context: dg.AssetExecutionContext, tts: TtsAssetsResource) -> dg.MaterializeResult:
    """Clip spans: long segments split at pauses, short neighbours merged, cut points padded."""
    voice, book = voice_and_book(context)
    settings = tts.settings(voice)
    result = book_stages.plan_book(tts.layout(), voice, book, settings.dataset)
    metadata = {
        "spans": result["spans"],
        "rejected_segments": result["rejected_segments"],
        "path": dg.MetadataValue.path(str(tts.layout().merged_file(voice, book))),
    }
    if result["speaker"]:  # the screening's counts, its histogram and the segments nearest its threshold
        speaker = result["speaker"]
        if speaker["warning"]:
            context.log.warning(f"{book}: {speaker['warning']}")
        histogram = tts.layout().speaker_histogram(voice, book)
        nearest = [{**row, "listen": settings.review.listen_link(voice, row["text"])}
                   for row in speaker["nearest_threshold"]]
        metadata.update({
            **{f"segments_{reason}": count for reason, count in speaker["rejected"].items()},
            "speaker_voice_share": speaker["voice_share"],
            "speaker_similarity": dg.MetadataValue.md(
                png_markdown(histogram.read_bytes(), "speaker similarity") + "\n\n"
                + rows_markdown(nearest, ["segment_id", "start", "similarity", "kept", "text", "listen"])),
        })
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(partitions_def=voice_book_partitions, group_name=GROUP, deps=[merged_segments], kinds={"wav"})
def book_clips(context: dg.AssetExecutionContext, tts: TtsAssetsResource) -> dg.MaterializeResult:
    """The book's clips, cut from one streaming decode, and its clip and rejection manifests."""
    voice, book = voice_and_book(context)
    settings = tts.settings(voice).dataset
    try:
        summary = book_stages.cut_book(tts.layout(), voice, book, settings.clips, settings.merge)
    except TtsAssetsError as error:
        raise _fail_book(tts, voice, book, error) from None
    context.log.info(
        f"{book}: {summary['clips']} clips, {summary['seconds_out'] / 60:.1f} of "
        f"{summary['seconds_in'] / 60:.1f} min kept"
    )
    return dg.MaterializeResult(metadata={k: v for k, v in summary.items() if k not in ("voice", "book")})


@dg.asset(
    partitions_def=voice_partitions,
    group_name=GROUP,
    deps=[
        dg.AssetDep(book_clips, partition_mapping=all_books_of_voice)
    ],
    kinds={"parquet"},
    automation_condition=BOOK_BUILT,
)
def voice_dataset(context: dg.AssetExecutionContext, tts: TtsAssetsResource) -> dg.MaterializeResult:
    """The voice's dataset over all its books: manifests (JSONL + Parquet), rejections, report."""
    voice = context.partition_key
    layout = tts.layout()
    summary = assemble_voice_dataset(layout, voice)
    clips = list(read_jsonl(layout.train_manifest(voice)))
    histogram = duration_histogram_png([c["duration"] for c in clips])
    return dg.MaterializeResult(
        metadata={
            "dataset": dg.MetadataValue.path(str(layout.dataset_dir(voice))),
            "clips": summary["clips"],
            "books": summary["books"],
            "hours_in": summary["hours_in"],
            "hours_out": summary["hours_out"],
            "yield": summary["yield"],
            "segments_total": summary["segments_total"],
            "segments_accepted": summary["segments_accepted"],
            "segments_rejected": summary["segments_rejected"],
            "rejections_by_reason": dg.MetadataValue.json(summary["rejections_by_reason"]),
            "duration_histogram": dg.MetadataValue.md(png_markdown(histogram, "clip durations")),
            "sample_rows": dg.MetadataValue.md(
                rows_markdown(clips[:10], ["audio_file", "duration", "start", "end", "text"])
            ),
        }
    )
