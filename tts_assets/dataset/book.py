"""The per-book stages: probe → transcript segments → located in the book's text → clip spans → clips.

Each stage reads the previous stage's files and writes its own atomically under
`work/<voice>/<book>/`, so each can be re-run alone. Every input unit (a transcript segment,
or a line of the user's file) ends either in clip rows or in one rejection: a segment split
into several clips is kept only if all of them are, otherwise all of them are rejected.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from tts_assets.asr.whisper import load_model, resolve_model, transcribe
from tts_assets.atomic import write_text_atomic, write_wav_atomic
from tts_assets.audio.cut import CutRequest, CutResult, cut_clips
from tts_assets.audio.decode import DecodeReport, decode_clip
from tts_assets.audio.probe import probe
from tts_assets.errors import TtsAssetsError, UnreadableAudioError
from tts_assets.layout import DataLayout
from tts_assets.manifest.io import read_jsonl, remove_unreferenced, temporary_files, write_jsonl
from tts_assets.manifest.schema import ClipRow, Reason, Rejection, TextSource
from tts_assets.segments.confidence import doubt
from tts_assets.segments.merge import SpanRejection, plan_spans
from tts_assets.segments.model import Segment
from tts_assets.settings import BookTextSettings, ClipFormat, DatasetSettings, MergeRules
from tts_assets.text.book_text import matching_words, read_book_text
from tts_assets.text.locate import BOOK, MISMATCH, coverage, locate_segments
from tts_assets.dataset.purity import measured_while_transcribed, screen_book, speaker_summary
from tts_assets.dataset.sources import (BookSource, read_curated_transcripts, read_segments_jsonl, read_source,
                                speakable_in)

log = logging.getLogger(__name__)


def _write_json(path: Path, data: dict) -> None:
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def record_failure(layout: DataLayout, voice: str, book: str, error: UnreadableAudioError) -> None:
    """Keep the reason the book's audio could not be decoded, so the voice's dataset reports it."""
    source = read_source(layout, voice, book)
    _write_json(layout.book_failure(voice, book), {"source": source.path, "error": str(error)})


def _clear_failure(layout: DataLayout, voice: str, book: str) -> None:
    layout.book_failure(voice, book).unlink(missing_ok=True)


def _curated_lines(source: BookSource, book: str, settings: DatasetSettings):
    return read_curated_transcripts(Path(source.path), Path(source.transcripts_jsonl), book,
                                    settings.merge.max_curated_clip_s, settings.inputs.follow_outside_links)


def probe_book(layout: DataLayout, voice: str, book: str, settings: DatasetSettings | None = None) -> dict:
    """Probe the book's audio (or each clip the curated transcripts name) and write `probe.json`."""
    settings = settings or DatasetSettings()
    source = read_source(layout, voice, book)
    if source.kind == "curated":
        # Only the clips the transcripts name: other files in the folder (the transcripts
        # themselves, notes) are not audio and not the book's.
        lines, _ = _curated_lines(source, book, settings)
        infos, unreadable = [], 0
        for path in sorted({ln.audio for ln in lines}):
            try:
                infos.append(probe(path))
            except UnreadableAudioError:
                unreadable += 1
        result = {
            "kind": "curated",
            "path": source.path,
            "files": len(infos),
            "unreadable_files": unreadable,
            "duration": round(sum(i.duration for i in infos), 3),
            "sample_rates": sorted({i.sample_rate for i in infos}),
        }
    else:
        result = {"kind": "audiobook", **probe(Path(source.path)).to_dict()}
    log.info("%s/%s: %.1f min of audio in %s", voice, book, result["duration"] / 60, source.path)
    _write_json(layout.probe_file(voice, book), result)
    _clear_failure(layout, voice, book)
    return result


def transcribe_book(
    layout: DataLayout,
    voice: str,
    book: str,
    settings: DatasetSettings,
    model=None,
) -> dict:
    """Write `segments.jsonl` (and `segments_rejected.jsonl` for bad input lines).

    Audiobooks are transcribed with faster-whisper unless a segments JSONL was given; curated
    clips take their text from the transcripts file.
    """
    source = read_source(layout, voice, book)
    rejections: list[Rejection] = []
    language = source.language  # the ASR's below: as given, or as it detected (the aligner's default)
    if source.kind == "curated":
        lines, rejections = _curated_lines(source, book, settings)
        rows = [
            {"id": ln.segment_id, "audio_file": str(ln.audio), "text": ln.text, "line": ln.line}
            for ln in lines
        ]
        made_by = f"transcripts {source.transcripts_jsonl}"
    elif source.segments_jsonl:
        segments, rejections = read_segments_jsonl(Path(source.segments_jsonl), source.path, book)
        rows = [replace(s, text_source=TextSource.TRANSCRIPT.value).to_dict() for s in segments]
        made_by = f"segments {source.segments_jsonl}"
    else:
        asr = settings.asr_settings(model=source.asr_model, language=source.language,
                                    verify_model=source.verify_asr_model)
        if model is None:  # record which model made the transcript, whatever `auto` chose
            folder, made_by = resolve_model(asr)
            asr = asr.with_overrides(model=folder)
        else:
            made_by = "the given model"
        verifier = load_model(asr.with_overrides(model=asr.verify_model)) if asr.verify_model else None
        if verifier is not None:
            made_by += f", verified by {asr.verify_model}"
        duration = _read_probe(layout, voice, book)["duration"]
        heard = Counter()
        # The segments' speaker and sound measures are taken from the ASR's decode as it goes.
        with measured_while_transcribed(layout, voice, book, Path(source.path), settings.speaker) as hear:
            segments = transcribe(
                Path(source.path), asr, model=model, id_prefix=f"{book}:", expected_duration=duration,
                verifier=verifier, languages=heard, hear=hear,
            )
            rows = [s.to_dict() for s in segments]
        language = asr.language or (heard.most_common(1)[0][0] if heard else None)
        if not rows:
            rejections.append(
                Rejection(source.path, 0.0, duration, None, Reason.NO_SPEECH,
                          f"no speech detected in {duration:.1f} s of audio", book,
                          segment_ids=[f"{book}:no_speech"])
            )
    write_jsonl(layout.transcript_file(voice, book), rows)
    write_jsonl(layout.transcript_rejections(voice, book), (r.to_dict() for r in rejections))
    _clear_failure(layout, voice, book)  # an earlier failure no longer holds
    _write_json(layout.transcript_info(voice, book), {"made_by": made_by, "language": language})
    log.info("%s/%s: %d segments by %s, %d input lines rejected", voice, book, len(rows), made_by, len(rejections))
    return {"segments": len(rows), "rejected_lines": len(rejections), "source": source.path, "made_by": made_by}


def _read_probe(layout: DataLayout, voice: str, book: str) -> dict:
    return json.loads(layout.probe_file(voice, book).read_text())


def locate_book(layout: DataLayout, voice: str, book: str, settings: BookTextSettings) -> dict | None:
    """Find the segments in the book's own text and write `located.jsonl`, `located_rejected.jsonl`
    and the report `book_text.json`; None (and those files removed) when the book has no text.

    A segment found in the text takes the book's words (each ASR word the book's words aligned with
    it, so a segment split at a pause is split between the same words); one the text does not have
    keeps the ASR's; one that says otherwise than the text there is rejected (`text_mismatch`).
    """
    source = read_source(layout, voice, book)
    outputs = (layout.located_file(voice, book), layout.located_rejections(voice, book),
               layout.book_text_report(voice, book))
    if not source.book_text or source.kind == "curated":
        for path in outputs:
            path.unlink(missing_ok=True)
        return None
    started = time.perf_counter()
    text = read_book_text(source.book_text)
    segments = sorted((Segment.from_dict(r) for r in read_jsonl(layout.transcript_file(voice, book))),
                      key=lambda s: s.start)
    heard = ([w.word for w in s.words] if s.words else s.text.split() for s in segments)
    rows, rejections, found, verdicts, corrected = [], [], [], Counter(), 0
    for segment, location in zip(segments, locate_segments(text, heard, settings)):
        verdicts[location.verdict] += 1
        if location.verdict == MISMATCH:
            rejections.append(Rejection(
                source.path, segment.start, segment.end, segment.text, Reason.TEXT_MISMATCH,
                f"{source.book_text}: the audio differs from the book's text there by {location.mismatch:.0%} "
                f"of its letters (more than {settings.max_mismatch:.0%})", book, segment_ids=[segment.id]))
            continue
        if location.verdict == BOOK:
            found.append(location)
            corrected += matching_words(location.text) != matching_words(segment.text)
            words = tuple(replace(w, word=f" {t}" if t else "", asr=w.word)
                          for w, t in zip(segment.words, location.word_texts))
            segment = replace(segment, text=location.text, words=words, text_source=TextSource.BOOK.value,
                              text_asr=segment.text)
        rows.append({**segment.to_dict(), "book_mismatch": location.mismatch})
    share, stretches = coverage(text, found, settings.longest_unmatched)
    report = {
        "book_text": source.book_text,
        "words": sum(1 for form in text.forms if form),
        "coverage": round(share, 4),
        "segments": {"book": verdicts[BOOK], "asr": len(rows) - verdicts[BOOK],
                     Reason.TEXT_MISMATCH.value: len(rejections)},
        # Segments whose words the ASR alone got wrong (by letters and digits, not punctuation).
        "segments_corrected": corrected,
        "longest_unmatched": [{"words": s.words, "first_word": s.first, "excerpt": s.excerpt} for s in stretches],
        "seconds": round(time.perf_counter() - started, 3),
    }
    write_jsonl(outputs[0], rows)
    write_jsonl(outputs[1], (r.to_dict() for r in rejections))
    _write_json(outputs[2], report)
    log.info("%s/%s: %d of %d segments found in %s (%.0f%% of its words read), %d kept with the ASR's text, "
             "%d rejected text_mismatch", voice, book, verdicts[BOOK], len(segments), source.book_text,
             100 * share, report["segments"]["asr"], len(rejections))
    return report


def plan_book(layout: DataLayout, voice: str, book: str, settings: DatasetSettings) -> dict:
    """Write `merged.jsonl`: the clip spans planned from the segments (curated lines pass through),
    as located in the book's text when the book has one.

    ASR text the ASR doubts, or a verification model heard otherwise, is rejected first; no clip is
    merged across a segment rejected here or by the book text, so no clip holds audio its text does
    not say."""
    source = read_source(layout, voice, book)
    located = layout.located_file(voice, book)
    rows = list(read_jsonl(located if source.book_text and source.kind != "curated" else
                           layout.transcript_file(voice, book)))
    rejected: list[Rejection] = []
    screening = None
    if source.kind == "curated":
        spans = [{**row, "segment_ids": [row["id"]]} for row in rows]
    else:
        chapters = _read_probe(layout, voice, book).get("chapters", [])
        breaks = [c["start"] for c in chapters[1:]]
        segments = [Segment.from_dict(r) for r in rows]
        if source.book_text:
            breaks += [r["start"] for r in read_jsonl(layout.located_rejections(voice, book))]
        # Other voices, music and non-speech first: a judgement of the sound, whoever wrote the text.
        screening = screen_book(layout, voice, book, Path(source.path), segments, settings.speaker)
        rejected += screening.rejections(segments, source.path, book)
        breaks += [s.start for s in segments if s.id in screening.rejected]
        segments = [s for s in segments if s.id not in screening.rejected]
        if not source.segments_jsonl:  # the transcript is the ASR's own
            segments, doubted = _trusted(segments, settings, source.language or settings.asr.language)
            rejected += [Rejection(source.path, s.start, s.end, s.text, reason, detail, book, segment_ids=[s.id])
                         for s, (reason, detail) in doubted]
            breaks += [s.start for s, _ in doubted]
        plan = plan_spans(segments, settings.merge, sorted(breaks))
        spans = [
            {"start": s.start, "end": s.end, "cut_start": s.cut_start, "cut_end": s.cut_end,
             "text": s.text, "segment_ids": s.segment_ids, "text_source": s.text_source, "text_asr": s.text_asr,
             "speaker_similarity": min((screening.similarity[i] for i in s.segment_ids if i in screening.similarity),
                                       default=None)}
            for s in plan.spans
        ]
        rejected += [_from_span_rejection(r, source.path, book) for r in plan.rejections]
    log.info("%s/%s: %d clips planned, %d segments rejected", voice, book, len(spans), len(rejected))
    write_jsonl(layout.merged_file(voice, book), spans)
    write_jsonl(layout.merge_rejections(voice, book), (r.to_dict() for r in rejected))
    return {"spans": len(spans), "rejected_segments": len(rejected),
            "speaker": screening.report if screening else None}


def _trusted(segments: list[Segment], settings: DatasetSettings, language: str | None):
    """(segments kept, [(segment, (reason, detail))] doubted); the book's text is not in doubt."""
    kept, doubted = [], []
    for segment in segments:
        why = None if segment.text_source == TextSource.BOOK.value else doubt(
            segment, settings.quality.min_word_probability, settings.quality.max_verify_wer, language)
        if why:
            doubted.append((segment, why))
        else:
            kept.append(segment)
    return kept, doubted


def _from_span_rejection(r: SpanRejection, source: str, book: str) -> Rejection:
    return Rejection(source, r.start, r.end, r.text, r.reason, r.detail, book,
                     segment_ids=r.segment_ids)


def cut_book(
    layout: DataLayout, voice: str, book: str, clip_format: ClipFormat, rules: MergeRules
) -> dict:
    """Cut the planned clips into `datasets/<voice>/wavs/<book>/` and write the book's manifests."""
    source = read_source(layout, voice, book)
    spans = list(read_jsonl(layout.merged_file(voice, book)))
    wavs = layout.wavs_dir(voice, book)
    dataset_dir = layout.dataset_dir(voice)
    manifest = layout.book_clips_manifest(voice, book)
    leftovers = temporary_files(wavs)
    try:
        if source.kind == "curated":
            clips, cut_rejections, seconds_in = _convert_curated(
                spans, wavs, dataset_dir, voice, book, clip_format, rules)
        else:
            clips, cut_rejections, seconds_in = _cut_audiobook(
                spans, source, wavs, dataset_dir, voice, book, clip_format)
    except TtsAssetsError:
        # The clips written before the failure belong to no manifest: only the last good
        # manifest's clips stay.
        kept = {dataset_dir / row["audio_file"] for row in read_jsonl(manifest)} if manifest.is_file() else set()
        remove_unreferenced(wavs, kept, leftovers)
        raise
    located_rejections = layout.located_rejections(voice, book)
    rejections = [
        *read_jsonl(layout.transcript_rejections(voice, book)),
        *(read_jsonl(located_rejections) if source.book_text and located_rejections.is_file() else ()),
        *read_jsonl(layout.merge_rejections(voice, book)),
        *(r.to_dict() for r in cut_rejections),
    ]
    write_jsonl(manifest, (c.to_dict() for c in clips))
    write_jsonl(layout.book_rejections(voice, book), rejections)
    remove_unreferenced(wavs, {dataset_dir / c.audio_file for c in clips}, leftovers)

    total = sum(1 for _ in read_jsonl(layout.transcript_file(voice, book)))
    total += sum(1 for _ in read_jsonl(layout.transcript_rejections(voice, book)))
    summary = {
        "voice": voice,
        "book": book,
        "source": source.path,
        "segments_total": total,
        "segments_accepted": len({i for c in clips for i in c.segment_ids}),
        # Segments, not rows: one rejection row may carry several merged segments.
        "segments_rejected": len({i for r in rejections for i in r["segment_ids"]}),
        "clips": len(clips),
        "clips_by_text_source": dict(Counter(c.text_source for c in clips)),
        # Clips whose words the ASR alone got wrong, by the book's text.
        "clips_corrected_by_book": sum(c.text_source == TextSource.BOOK.value
                                       and matching_words(c.text) != matching_words(c.text_asr or "")
                                       for c in clips),
        # Decoded, not the header's duration (a VBR MP3 without a Xing header understates it).
        "seconds_in": round(seconds_in, 3),
        "seconds_out": round(sum(c.duration for c in clips), 3),
    }
    summary.update(speaker_summary(layout, voice, book))
    report = layout.book_text_report(voice, book)
    if source.book_text and report.is_file():
        summary["book_text_coverage"] = json.loads(report.read_text())["coverage"]
    _write_json(layout.book_summary(voice, book), summary)
    _clear_failure(layout, voice, book)  # the book is usable again: the voice dataset takes its clips
    log.info("%s/%s: %d clips written to %s", voice, book, len(clips), wavs)
    return summary


def _unusable(result: CutResult) -> tuple[Reason, str] | None:
    """Why a cut clip cannot be kept, or None."""
    if result.damaged:
        a, b = result.damaged
        return Reason.DAMAGED_AUDIO, f"the audio from {a:.2f} s to {b:.2f} s could not be decoded"
    if result.samples == 0:
        return Reason.BEYOND_AUDIO_END, "the clip lies past the end of the decoded audio"
    return None


def _cut_audiobook(spans, source: BookSource, wavs: Path, dataset_dir: Path, voice, book, fmt):
    requests = [
        CutRequest(s["cut_start"], s["cut_end"],
                   wavs / f"{book}_{round(s['cut_start'] * 1000):09d}-{round(s['cut_end'] * 1000):09d}.wav")
        for s in spans
    ]
    report = DecodeReport()
    results = cut_clips(Path(source.path), requests, fmt.sample_rate, fmt.subtype, report=report)
    # A segment split into several clips is rejected whole: drop every clip that carries a part
    # of a rejected segment, and with it the other segments of that clip, until no kept clip
    # shares a segment with a dropped one. Each dropped segment keeps the cause that reached it.
    causes = {span_index: _unusable(result) for span_index, result in enumerate(results)}
    dropped = {i: cause for index, cause in causes.items() if cause for i in spans[index]["segment_ids"]}
    while True:
        grown = dict(dropped)
        for span in spans:
            cause = next((dropped[i] for i in span["segment_ids"] if i in dropped), None)
            for i in span["segment_ids"] if cause else ():
                grown.setdefault(i, cause)
        if len(grown) == len(dropped):
            break
        dropped = grown
    clips, rejections, rejected = [], [], set()
    for index, (span, result) in enumerate(zip(spans, results)):
        if any(i in dropped for i in span["segment_ids"]):
            ids = [i for i in span["segment_ids"] if i not in rejected]  # one rejection per segment
            rejected.update(ids)
            if ids:
                reason, detail = causes[index] or next(dropped[i] for i in span["segment_ids"] if i in dropped)
                if not causes[index]:
                    detail = f"a segment of this clip continues in a clip that cannot be kept: {detail}"
                rejections.append(
                    Rejection(source.path, span["cut_start"], span["cut_end"], span["text"], reason, detail,
                              book, segment_ids=ids)
                )
            if result.samples:
                result.request.out_path.unlink(missing_ok=True)
            continue
        clips.append(
            ClipRow(
                audio_file=result.request.out_path.relative_to(dataset_dir).as_posix(),
                text=span["text"],
                duration=round(result.samples / fmt.sample_rate, 4),
                voice=voice,
                source=source.path,
                start=round(result.start, 3),
                end=round(result.end, 3),
                sample_rate=fmt.sample_rate,
                book=book,
                segment_ids=span["segment_ids"],
                text_source=span["text_source"],
                text_asr=span["text_asr"],
                speaker_similarity=span.get("speaker_similarity"),
            )
        )
    if report.damaged:
        log.warning("%s: %d damaged stretches (%s) decoded as silence; the clips they touch are rejected",
                    source.path, len(report.damaged),
                    ", ".join(f"{a:.1f}-{b:.1f} s" for a, b in report.damaged[:5]))
    return clips, rejections, report.seconds


def _convert_curated(lines, wavs: Path, dataset_dir: Path, voice, book, fmt, rules: MergeRules):
    """Resample each curated clip to the dataset format; unreadable, damaged or out-of-bounds clips
    are rejected with their line number. Lengths are the decoded ones."""
    clips, rejections, seconds_in = [], [], 0.0
    for line in lines:
        audio = Path(line["audio_file"])

        def reject(reason: Reason, detail: str) -> None:
            rejections.append(
                Rejection(str(audio), None, None, line["text"], reason, detail, book,
                          line["line"], line["segment_ids"])
            )

        try:
            # Longer than max_clip_s is split at its pauses once aligned (segments/split_aligned.py).
            samples, report = decode_clip(audio, fmt.sample_rate, rules.max_curated_clip_s)
        except UnreadableAudioError as exc:
            reject(Reason.UNREADABLE_AUDIO, str(exc))
            continue
        seconds_in += report.seconds
        if samples is None:
            reject(Reason.TOO_LONG, f"more than {rules.max_curated_clip_s} s (decoding stopped at {report.seconds:.2f} s)")
            continue
        if report.damaged:
            a, b = report.damaged[0]
            reject(Reason.DAMAGED_AUDIO, f"the audio from {a:.2f} s to {b:.2f} s could not be decoded")
            continue
        seconds = len(samples) / fmt.sample_rate
        if seconds < rules.min_clip_s:
            reject(Reason.TOO_SHORT, f"{seconds:.2f} s < {rules.min_clip_s} s")
            continue
        if not speakable_in(line["text"], seconds):
            reject(Reason.LENGTH_MISMATCH, f"{len(line['text']):,} characters cannot be spoken in {seconds:.2f} s")
            continue
        target = wavs / f"{book}_L{line['line']:06d}.wav"
        write_wav_atomic(target, samples, fmt.sample_rate, fmt.subtype)
        clips.append(
            ClipRow(target.relative_to(dataset_dir).as_posix(), line["text"], round(seconds, 4), voice,
                    str(audio), None, None, fmt.sample_rate, book, line["segment_ids"],
                    TextSource.TRANSCRIPT.value)
        )
    return clips, rejections, seconds_in
