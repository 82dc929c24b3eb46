"""The language a voice's clips are aligned in: `align.language` when set (the settings file,
voice.yaml, `tts-assets align --language`), else the one its books were transcribed in (given or
detected by the ASR, as each book's transcript info records it), else English."""

from __future__ import annotations

import json
import logging
from collections import Counter

from tts_assets.aligners.choice import DEFAULT_LANGUAGE
from tts_assets.layout import DataLayout
from tts_assets.settings import DatasetSettings

log = logging.getLogger(__name__)


def ingest_language(layout: DataLayout, voice: str) -> str | None:
    """The language most of the voice's books were transcribed in; None when none records one."""
    languages = Counter()
    for book in layout.books(voice):
        info = layout.transcript_info(voice, book)
        language = json.loads(info.read_text()).get("language") if info.is_file() else None
        if language:
            languages[language] += 1
    if len(languages) > 1:
        log.warning("%s: books transcribed in %s; aligning in the most common (set align.language for another)",
                    voice, ", ".join(f"{lang} ({count})" for lang, count in languages.most_common()))
    return languages.most_common(1)[0][0] if languages else None


def with_voice_language(layout: DataLayout, voice: str, settings: DatasetSettings) -> DatasetSettings:
    if settings.align.language:
        return settings
    language = ingest_language(layout, voice)
    log.info("%s: aligning in %s (%s)", voice, language or DEFAULT_LANGUAGE,
             "the language of its transcripts" if language else "none recorded by its ingest")
    align = settings.align.with_overrides(language=language or DEFAULT_LANGUAGE)
    return settings.model_copy(update={"align": align})
