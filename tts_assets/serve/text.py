"""Request text as the voices were trained on it.

The datasets' texts are normalized (numbers, currency, abbreviations spelled out), so requests
are normalized the same way before they are cut into pieces (`tts_assets.text.sentences`).
"""

from __future__ import annotations

from tts_assets.text.normalize import normalize_text


def speakable(text: str, language: str = "en", normalize: bool = True) -> str:
    text = " ".join(text.replace("\r", "\n").split(" "))
    # normalize_text joins lines; keep paragraph/line breaks as sentence ends.
    return "\n".join(normalize_text(line, language) if normalize else " ".join(line.split())
                     for line in text.split("\n") if line.strip())
