"""The dataset's output contract: one row per clip, one row per rejected segment or input line."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum

import pyarrow as pa


class Reason(str, Enum):
    """Stable rejection codes; users grep for them and reports count them."""

    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    EMPTY_TEXT = "empty_text"
    UNREADABLE_AUDIO = "unreadable_audio"
    MISSING_FILE = "missing_file"
    PATH_OUTSIDE_INPUT = "path_outside_input"
    MALFORMED_LINE = "malformed_line"
    BEYOND_AUDIO_END = "beyond_audio_end"
    NO_SPEECH = "no_speech"
    DAMAGED_AUDIO = "damaged_audio"  # the clip touches a stretch the decoder could not read
    DUPLICATE_AUDIO = "duplicate_audio"  # a transcript line naming a clip an earlier line named
    UNCERTAIN_TRANSCRIPT = "uncertain_transcript"  # the ASR itself doubts a word of the segment
    ASR_DISAGREEMENT = "asr_disagreement"  # the verification model heard other words
    # alignment and quality (the aligned dataset)
    ALIGN_FAILED = "align_failed"
    LOW_ALIGN_SCORE = "low_align_score"
    SPEAKING_RATE_OUTLIER = "speaking_rate_outlier"
    CLIPPING = "clipping"
    LOW_SNR = "low_snr"
    TOO_MUCH_SILENCE = "too_much_silence"
    LENGTH_MISMATCH = "length_mismatch"
    CUT_INSIDE_WORD = "cut_inside_word"
    UNSPOKEN_TEXT = "unspoken_text"  # digits or symbols the normalizer could not spell out
    TEXT_MISMATCH = "text_mismatch"  # the audio says otherwise than the book's text there
    LOW_QUALITY = "low_quality"  # DNSMOS OVRL below quality.min_dnsmos_ovrl
    LOW_BANDWIDTH = "low_bandwidth"  # the band ends well below the voice's (quality.bandwidth_below_median)
    REVIEW_REJECTED = "review_rejected"  # a listener rejected it on the review page
    # speaker purity and sound (judged per segment before merging; tts_assets/purity)
    OTHER_SPEAKER = "other_speaker"  # a voice other than the book's narrator
    MUSIC = "music"  # steady tones: a music intro, bed or jingle
    NON_SPEECH = "non_speech"  # voice activity detection hears too little speech


class TextSource(str, Enum):
    """Where a clip's text comes from."""

    BOOK = "book"  # the book's own text, located with the ASR transcript
    ASR = "asr"  # the ASR transcript (no book text, or speech the book does not have)
    TRANSCRIPT = "transcript"  # the user's segments or curated transcripts


@dataclass
class ClipRow:
    audio_file: str  # relative to the dataset folder
    text: str
    duration: float
    voice: str
    source: str
    start: float | None
    end: float | None
    sample_rate: int
    book: str
    segment_ids: list[str] = field(default_factory=list)
    text_source: str = TextSource.ASR.value
    text_asr: str | None = None  # what the ASR heard, when `text` is the book's
    speaker_similarity: float | None = None  # its segments' lowest similarity to the voice

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Rejection:
    source: str
    start: float | None
    end: float | None
    text: str | None
    reason: Reason
    detail: str
    book: str = ""
    line: int | None = None
    segment_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        row = asdict(self)
        row["reason"] = self.reason.value
        return row


MANIFEST_SCHEMA = pa.schema(
    [
        ("audio_file", pa.string()),
        ("text", pa.string()),
        ("duration", pa.float64()),
        ("voice", pa.string()),
        ("source", pa.string()),
        ("start", pa.float64()),
        ("end", pa.float64()),
        ("sample_rate", pa.int32()),
        ("book", pa.string()),
        ("segment_ids", pa.list_(pa.string())),
        ("text_source", pa.string()),
        ("text_asr", pa.string()),
        ("speaker_similarity", pa.float64()),
    ]
)
