"""lhotse manifests per split, named as lhotse's recipes name them (`read_manifests_if_cached`
finds them): `<voice>_recordings_<split>.jsonl.gz`, `_supervisions_`, `_cuts_`; one recording per
clip (audio in `wavs/`, by absolute path, as lhotse's recipes write them), one supervision over it
with the spoken text, `text_original` and `book` in `custom`, and the aligner's words as
`alignment["word"]`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tts_assets.errors import UnreadableAudioError
from tts_assets.export.clips import SPLITS, ExportClip, link_or_copy

WAVS = "wavs"


def manifest_file(voice: str, kind: str, split: str) -> str:
    """kind: recordings, supervisions or cuts."""
    return f"{voice}_{kind}_{split}.jsonl.gz"


def write_lhotse(build: Path, final: Path, clips: list[ExportClip], voice: str, language: str) -> int:
    from lhotse import CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet
    from lhotse.audio.utils import AudioLoadingError
    from lhotse.supervision import AlignmentItem

    linked = 0
    for split in SPLITS:
        recordings, supervisions, cuts = [], [], []
        for clip in (c for c in clips if c.split == split):
            relative = Path(WAVS) / f"{clip.id}.wav"
            linked += link_or_copy(clip.audio, build / relative)
            try:  # read from the folder being built, pointing where it will be once in place
                recording = Recording.from_file(build / relative, recording_id=clip.id,
                                                relative_path_depth=len(relative.parts)).with_path_prefix(final)
            except AudioLoadingError:  # its message has a paragraph for each backend lhotse tried
                raise UnreadableAudioError(clip.audio, "no lhotse audio backend reads it") from None
            recordings.append(recording)
            words = [AlignmentItem(symbol=w["word"], start=w["start"], duration=round(w["end"] - w["start"], 3),
                                   score=w.get("score")) for w in clip.words]
            supervision = SupervisionSegment(
                id=clip.id, recording_id=clip.id, start=0.0, duration=recording.duration, channel=0,
                text=clip.text, language=language, speaker=voice, alignment={"word": words} if words else None,
                custom={"text_original": clip.text_original, "book": clip.book},
            )
            supervisions.append(supervision)
            # the clip's id for its cut too (CutSet.from_manifests would number them in order)
            cuts.append(replace(recording.to_cut(), supervisions=[supervision]))
        RecordingSet.from_recordings(recordings).to_file(build / manifest_file(voice, "recordings", split))
        SupervisionSet.from_segments(supervisions).to_file(build / manifest_file(voice, "supervisions", split))
        CutSet.from_cuts(cuts).to_file(build / manifest_file(voice, "cuts", split))
    return linked
