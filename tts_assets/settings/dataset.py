"""The dataset build's settings (`dataset:`), and a voice's own (`inbox/<voice>/voice.yaml`).

Defaults come from the anchors; `configs/dataset.yaml` documents every field (a test keeps the
two equal)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import ConfigDict, Field, model_validator

from tts_assets.errors import InputFileError
from tts_assets.settings.base import StrictSettings, one_line


class InputSettings(StrictSettings):
    # A symlink is followed only inside its input (the data root for the inbox, the clips folder for
    # curated clips): one that leads elsewhere could expose any file the process can read.
    follow_outside_links: bool = False


class AsrSettings(StrictSettings):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # auto: the best for the device (large-v3-turbo on CUDA, small on a CPU; the packaged tiny.en
    # offline), a model name (downloaded when online) or a local CTranslate2 folder
    model: str = "auto"
    language: str | None = None  # None: detect (multilingual models only)
    device: str = "auto"
    compute_type: str = "default"  # int8 on CPU, float16 on GPU
    batch_size: int = 8  # >1: faster-whisper's BatchedInferencePipeline; 1: sequential decoding
    beam_size: int = 5
    cpu_threads: int = 0
    window_s: float = 1200.0  # audio held per transcription call
    edge_s: float = 30.0  # segments ending this close to a window's end are redone in the next
    # Batched decoding returns ~30 s segments; a pause longer than this inside one starts a new
    # segment, so segments are runs of speech as sequential decoding would give.
    segment_pause_s: float = 0.5
    # A second model (name or folder) that reads every transcribed segment again; a segment it
    # hears otherwise (quality.max_verify_wer) is rejected. None: no second pass.
    verify_model: str | None = None

    @model_validator(mode="after")
    def _window_past_edge(self) -> "AsrSettings":
        if self.window_s < self.edge_s + 60:
            raise ValueError("window_s must exceed edge_s by at least 60 s (Whisper works in 30 s chunks)")
        return self


class MergeRules(StrictSettings):
    model_config = ConfigDict(extra="forbid", frozen=True)
    max_gap_s: float = 0.5  # merge only across pauses this short
    merge_below_s: float = 2.0  # keep merging while the growing span is shorter than this
    # A span still shorter than merge_below_s joins a neighbour across a pause up to this long
    # (kept as it is inside the clip) rather than standing alone or being dropped.
    max_short_merge_gap_s: float = 1.0
    max_clip_s: float = 10.0  # a span never grows past this; longer segments are split
    # Spans that could not be merged and are still shorter than this are rejected (too_short);
    # twice coqui XTTS's 0.5 s minimum (Qwen3's recipe has none), below most isolated sentences.
    min_clip_s: float = 1.0
    pad_s: float = 0.15  # silence kept around the first and last word, up to half the gap
    # Curated clips longer than max_clip_s, up to this, are split at their aligned pauses
    # (segments/split_aligned.py); longer ones are rejected (too_long).
    max_curated_clip_s: float = 60.0
    min_split_pause_s: float = 0.1  # the shortest pause between aligned words a clip is split at

    @model_validator(mode="after")
    def _limits_in_order(self) -> "MergeRules":
        if self.max_short_merge_gap_s < self.max_gap_s:
            raise ValueError(f"max_short_merge_gap_s ({self.max_short_merge_gap_s}) must be at least "
                             f"max_gap_s ({self.max_gap_s})")
        if self.max_curated_clip_s < self.max_clip_s:
            raise ValueError(f"max_curated_clip_s ({self.max_curated_clip_s}) must be at least "
                             f"max_clip_s ({self.max_clip_s})")
        return self


class BookTextSettings(StrictSettings):
    """Locating the transcript in the book's own text (`ingest --book-text`); text/locate.py."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # A segment takes the book's words when its letters differ from them by at most this share
    # (edit distance / letters); "Comedian male male box" for "Comedian Mail. Mailbox?" is 0.16.
    max_mismatch: float = Field(0.25, ge=0, lt=1)
    # At least this far from every stretch of the book compared: speech the book does not have (a
    # spoken intro), kept with the ASR's text; in between: rejected, text_mismatch.
    not_in_book_mismatch: float = Field(0.5, gt=0, le=1)
    search_chars: int = Field(50_000, ge=1000)  # the most of the book searched ahead for one segment
    min_search_chars: int = Field(16, ge=1)  # shorter segments are looked for only where the last ended
    longest_unmatched: int = Field(10, ge=0)  # unmatched stretches of the book listed in the report

    @model_validator(mode="after")
    def _bands_in_order(self) -> "BookTextSettings":
        if self.max_mismatch >= self.not_in_book_mismatch:
            raise ValueError(f"max_mismatch ({self.max_mismatch}) must be below not_in_book_mismatch "
                             f"({self.not_in_book_mismatch})")
        return self


class ClipFormat(StrictSettings):
    sample_rate: int = 24000
    subtype: str = "PCM_16"  # any soundfile WAV subtype: PCM_16, PCM_24, FLOAT


class AlignSettings(StrictSettings):
    # auto: whisperx with wav2vec2_model (or online, WhisperX's default for the language), else
    # pocketsphinx for English, else whisper (aligners/choice.py)
    backend: Literal["auto", "pocketsphinx", "whisperx", "whisper"] = "auto"
    wav2vec2_model: str | None = None  # local Hugging Face Wav2Vec2ForCTC folder, or a hub id online
    # backend whisper: a CTranslate2 Whisper folder or name; None: the packaged one for the language
    whisper_model: str | None = None
    language: str | None = None  # None: the language the voice's books were transcribed in, else en
    # A clip that fails or scores low is aligned again: pocketsphinx with wider beams, then whisper.
    retry: bool = True
    device: str = "cpu"
    pad_s: float = 0.15  # silence kept before the first and after the last aligned word
    # Readings of a text with digits or symbols aligned for the audio to choose ("$5.50": "five
    # dollars fifty cents", "five fifty"); each is one more alignment of the clip. 1: NeMo's one reading.
    max_readings: int = Field(8, ge=1)

    def choosing(self, backend: str | None, model: str | None, language: str | None) -> "AlignSettings":
        """With a backend, its model (the Whisper aligner's for whisper, else the wav2vec2 one) and a
        language chosen (None: keep), as voice.yaml and `tts-assets align` give them."""
        field = "whisper_model" if (backend or self.backend) == "whisper" else "wav2vec2_model"
        return self.with_overrides(backend=backend, language=language, **{field: model})


class QualitySettings(StrictSettings):
    min_align_score: float = Field(0.1, ge=0, le=1)  # matching text vs wrong: pocketsphinx ~0.3 vs ~0.01, Whisper 0.3–0.8 vs < 0.07
    rate_iqr_k: float = Field(1.5, gt=0)  # seconds-per-character outliers beyond k × IQR are rejected
    max_clipping: float = Field(0.001, ge=0, le=1)  # share of samples at full scale
    min_snr_db: float = 15.0
    max_silence: float = Field(0.5, ge=0, le=1)  # share of 20 ms frames 40 dB below the loudest
    min_chars_per_s: float = Field(5.0, ge=0)  # text/audio length mismatch bounds
    max_chars_per_s: float = Field(30.0, gt=0)
    loudness_lufs: float | None = None  # e.g. -23.0 to normalize kept clips (pyloudnorm)
    val_fraction: float = Field(0.05, ge=0, lt=1)
    # ASR transcripts not confirmed by a book text: a segment with a word the ASR gives less than
    # this probability is rejected (uncertain_transcript); 0 turns it off.
    min_word_probability: float = Field(0.1, ge=0, lt=1)
    max_verify_wer: float = Field(0.2, ge=0)  # asr.verify_model's word error rate against the transcript
    # DNSMOS P.835 OVRL (low_quality): below the floor, or this far below the voice's median (its
    # own noisy sessions; a voice that scores low throughout keeps its clips); None: not scored /
    # no relative rule.
    min_dnsmos_ovrl: float | None = Field(2.0, ge=0, le=5)
    dnsmos_below_median: float | None = Field(0.8, gt=0)
    # low_bandwidth: a clip whose band ends below this share of the voice's median band edge (a
    # telephone insert: 0.45-0.57); None: off.
    bandwidth_below_median: float | None = Field(0.7, gt=0, le=1)

    @model_validator(mode="after")
    def _bounds_in_order(self) -> "QualitySettings":
        if self.min_chars_per_s >= self.max_chars_per_s:
            raise ValueError(f"min_chars_per_s ({self.min_chars_per_s}) must be below max_chars_per_s "
                             f"({self.max_chars_per_s})")
        return self


class SpeakerSettings(StrictSettings):
    """One voice, clean audio: segments judged before merging (tts_assets/purity)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # resemblyzer (the GE2E encoder its wheel ships), a GE2E .pt file, or none (no screening)
    model: str = "resemblyzer"
    # A segment whose lowest 1.6 s window is less similar than this to the voice: other_speaker
    # (GE2E: the same reader 0.74-0.98, another 0.47-0.67; speaker.json has the distribution).
    min_similarity: float = Field(0.7, ge=0, le=1)
    reference_trim: float = Field(0.2, ge=0, lt=1)  # farthest share of segments left out of the voice
    min_voice_share: float = Field(0.5, ge=0, le=1)  # a book with less of its speech the voice: warned
    min_speech_share: float = Field(0.4, ge=0, le=1)  # less speech (Silero VAD) than this: non_speech
    max_music_share: float = Field(0.1, ge=0, le=1)  # more steady-tone frames than this: music
    nearest_listed: int = Field(10, ge=0)  # segments nearest min_similarity listed in speaker.json


class DatasetSettings(StrictSettings):
    inputs: InputSettings = Field(default_factory=InputSettings)
    asr: AsrSettings = Field(default_factory=AsrSettings)
    merge: MergeRules = Field(default_factory=MergeRules)
    book_text: BookTextSettings = Field(default_factory=BookTextSettings)
    clips: ClipFormat = Field(default_factory=ClipFormat)
    align: AlignSettings = Field(default_factory=AlignSettings)
    quality: QualitySettings = Field(default_factory=QualitySettings)
    speaker: SpeakerSettings = Field(default_factory=SpeakerSettings)

    def asr_settings(self, **overrides) -> AsrSettings:
        """The ASR settings with a book's own options (its model, its language) in place."""
        return self.asr.with_overrides(**overrides)

    def describe(self) -> dict:
        return self.model_dump()


class VoiceSettings(StrictSettings):
    """`inbox/<voice>/voice.yaml`: what one voice needs (a French voice and an English one in one
    inbox), over the settings file. Every field is optional; a book's own options (`ingest
    --language/--asr-model`) still come first."""

    language: str | None = None  # of the ASR and the aligner
    asr_model: str | None = None
    aligner: Literal["auto", "pocketsphinx", "whisperx", "whisper"] | None = None
    align_model: str | None = None  # the aligner's model: Whisper's for aligner whisper, else wav2vec2
    engines: list[Literal["qwen3", "xtts"]] | None = None  # which the nightly training trains
    xtts_config: str | None = None  # the voice's XTTS config (relative to voice.yaml's folder)

    @classmethod
    def load(cls, path: Path) -> "VoiceSettings":
        try:
            settings = cls.model_validate(yaml.safe_load(Path(path).read_text()) or {})
        except (OSError, yaml.YAMLError, ValueError, TypeError) as exc:
            raise InputFileError(path, f"invalid voice settings: {one_line(exc)}") from exc
        if settings.xtts_config:  # found later by runs started elsewhere
            settings.xtts_config = str((Path(path).parent / settings.xtts_config).resolve())
        return settings

    def over(self, settings: DatasetSettings) -> DatasetSettings:
        """The dataset settings with this voice's choices in place."""
        asr = settings.asr.with_overrides(language=self.language, model=self.asr_model)
        align = settings.align.choosing(self.aligner, self.align_model, self.language)
        return settings.model_copy(update={"asr": asr, "align": align})
