"""The review page's settings (`review:`); configs/review.yaml documents every field with its default."""

from __future__ import annotations

from pydantic import Field

from tts_assets.settings.base import StrictSettings


class ReviewSettings(StrictSettings):
    host: str = "127.0.0.1"
    port: int = Field(8100, ge=1, le=65535)
    public_url: str | None = None  # what the Dagster UI links to, when the page is reached otherwise
    page_size: int = Field(50, ge=1, le=500)
    max_text_chars: int = Field(1000, ge=1)
    max_body_bytes: int = Field(16384, ge=256)

    def voice_url(self, voice: str) -> str:
        from urllib.parse import quote

        base = (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
        return f"{base}/voices/{quote(voice)}"

    def listen_link(self, voice: str, text: str) -> str:
        """A markdown link to the voice's page searched for `text` (its clip, kept or rejected)."""
        from urllib.parse import urlencode

        return f"[listen]({self.voice_url(voice)}?{urlencode({'q': ' '.join(text.split())[:80]})})"
