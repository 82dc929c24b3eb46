"""Where everything lives on disk: every path is a function of (data_root, voice, book)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from anyascii import anyascii

from tts_assets.errors import InvalidNameError

DATA_ROOT_ENV = "TTS_ASSETS_DATA_ROOT"
AUDIO_SUFFIXES = (".m4b", ".m4a", ".mp3", ".wav", ".flac", ".ogg", ".opus", ".aac")
# A key is a folder name and the start of clip file names (`<book>_<start>-<end>.wav`, and the
# `.<name>.<random>.tmp` of its atomic write): this leaves room within a 255-byte file name.
MAX_KEY_CHARS = 100


def resolve_data_root(explicit: str | os.PathLike | None = None) -> Path:
    """A flag beats the environment, which beats the default `./data`."""
    chosen = explicit or os.environ.get(DATA_ROOT_ENV) or "data"
    return Path(chosen).expanduser().resolve()


def slugify(name: str) -> str:
    """A partition key from a file or voice name: lowercase ascii, digits, `_` and `-`; other
    scripts are transliterated (`Алиса` → `alisa`, `日本語` → `ribenyu`)."""
    slug = re.sub(r"[^a-z0-9_-]+", "_", anyascii(name).lower()).strip("_-")
    if not slug:
        raise InvalidNameError(f"{name!r} gives an empty key; use a name with letters or digits")
    if len(slug) > MAX_KEY_CHARS:
        raise InvalidNameError(f"{name[:40]!r}... gives a key of {len(slug)} characters, more than "
                               f"{MAX_KEY_CHARS}; use a shorter name")
    return slug


@dataclass(frozen=True)
class DataLayout:
    root: Path

    @classmethod
    def at(cls, data_root: str | os.PathLike | None = None) -> "DataLayout":
        return cls(resolve_data_root(data_root))

    # inputs
    def inbox(self, voice: str) -> Path:
        return self.root / "inbox" / voice

    # per-book intermediates
    def book_dir(self, voice: str, book: str) -> Path:
        return self.root / "work" / voice / book

    def source_record(self, voice: str, book: str) -> Path:
        return self.book_dir(voice, book) / "source.json"

    def probe_file(self, voice: str, book: str) -> Path:
        return self.book_dir(voice, book) / "probe.json"

    def transcript_file(self, voice: str, book: str) -> Path:
        return self.book_dir(voice, book) / "segments.jsonl"

    def transcript_info(self, voice: str, book: str) -> Path:
        """What made the transcript: the ASR model (as `auto` resolved it), or the user's file."""
        return self.book_dir(voice, book) / "transcript.json"

    def transcript_rejections(self, voice: str, book: str) -> Path:
        return self.book_dir(voice, book) / "segments_rejected.jsonl"

    def located_file(self, voice: str, book: str) -> Path:
        """The segments with the book's own words where they were found in its text."""
        return self.book_dir(voice, book) / "located.jsonl"

    def located_rejections(self, voice: str, book: str) -> Path:
        """Segments whose audio says otherwise than the book's text (text_mismatch)."""
        return self.book_dir(voice, book) / "located_rejected.jsonl"

    def book_text_report(self, voice: str, book: str) -> Path:
        """How much of the book's text the audio reads, its longest unread stretches, the verdicts."""
        return self.book_dir(voice, book) / "book_text.json"

    def merged_file(self, voice: str, book: str) -> Path:
        return self.book_dir(voice, book) / "merged.jsonl"

    def merge_rejections(self, voice: str, book: str) -> Path:
        return self.book_dir(voice, book) / "merged_rejected.jsonl"

    def speaker_sounds(self, voice: str, book: str) -> Path:
        """Each segment's speaker embeddings, speech and music shares (tts_assets/purity)."""
        return self.book_dir(voice, book) / "speaker_sounds.npz"

    def speaker_report(self, voice: str, book: str) -> Path:
        return self.book_dir(voice, book) / "speaker.json"

    def speaker_histogram(self, voice: str, book: str) -> Path:
        return self.book_dir(voice, book) / "speaker_similarity.png"

    def book_clips_manifest(self, voice: str, book: str) -> Path:
        return self.book_dir(voice, book) / "clips.jsonl"

    def book_rejections(self, voice: str, book: str) -> Path:
        """Every rejection of the book, from all stages."""
        return self.book_dir(voice, book) / "rejections.jsonl"

    def book_summary(self, voice: str, book: str) -> Path:
        return self.book_dir(voice, book) / "summary.json"

    def book_failure(self, voice: str, book: str) -> Path:
        """Written when the book's audio cannot be used at all, so the dataset can report it."""
        return self.book_dir(voice, book) / "failure.json"

    def voice_record(self, voice: str) -> Path:
        """The name the voice's key was first given, so another name with the same key is caught."""
        return self.root / "work" / voice / "voice.json"

    def voice_settings(self, voice: str) -> Path:
        """The voice's own settings, as last taken from `inbox/<voice>/voice.yaml`."""
        return self.root / "work" / voice / "voice.yaml"

    def books(self, voice: str) -> list[str]:
        """Books of a voice that have been registered (have a source record)."""
        voice_dir = self.root / "work" / voice
        if not voice_dir.is_dir():
            return []
        return sorted(p.parent.name for p in voice_dir.glob("*/source.json"))

    # per-voice outputs
    def dataset_dir(self, voice: str) -> Path:
        return self.root / "datasets" / voice

    def wavs_dir(self, voice: str, book: str) -> Path:
        return self.dataset_dir(voice) / "wavs" / book

    def train_manifest(self, voice: str) -> Path:
        return self.dataset_dir(voice) / "train_manifest.jsonl"

    def manifest_parquet(self, voice: str) -> Path:
        return self.dataset_dir(voice) / "manifest.parquet"

    def rejections(self, voice: str) -> Path:
        return self.dataset_dir(voice) / "rejections.jsonl"

    def dataset_summary(self, voice: str) -> Path:
        return self.dataset_dir(voice) / "summary.json"

    # the aligned, filtered and split dataset
    def aligned_wavs_dir(self, voice: str, book: str) -> Path:
        return self.dataset_dir(voice) / "wavs_aligned" / book

    def aligned_manifest(self, voice: str) -> Path:
        return self.dataset_dir(voice) / "train_aligned.jsonl"

    def aligned_parquet(self, voice: str) -> Path:
        return self.dataset_dir(voice) / "train_aligned.parquet"

    def aligned_rejections(self, voice: str) -> Path:
        """Clips of train_manifest.jsonl that alignment or a quality filter rejected."""
        return self.dataset_dir(voice) / "rejections_aligned.jsonl"

    def aligned_summary(self, voice: str) -> Path:
        return self.dataset_dir(voice) / "summary_aligned.json"

    # exports other trainers read (`tts-assets export`; tts_assets.export names the files inside)
    def export_dir(self, voice: str, fmt: str) -> Path:
        """`ljspeech`, `hf` or `lhotse`: one self-contained folder each."""
        return self.dataset_dir(voice) / "exports" / fmt

    def review_decisions(self, voice: str) -> Path:
        """The review page's decisions (reject, restore, correct), append-only; read by the aligned dataset."""
        return self.dataset_dir(voice) / "review_decisions.jsonl"

    def aligned_dnsmos_png(self, voice: str) -> Path:
        """The histogram of the scored clips' DNSMOS OVRL, by book, with the floor."""
        return self.dataset_dir(voice) / "dnsmos_aligned.png"

    def aligned_dnsmos_cache(self, voice: str) -> Path:
        """The DNSMOS scores of the kept clips by content, so a rebuild scores only new clips."""
        return self.dataset_dir(voice) / "dnsmos_cache.json"

    def models_dir(self, voice: str) -> Path:
        return self.root / "models" / voice
