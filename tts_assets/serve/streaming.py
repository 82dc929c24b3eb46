"""Streamed speech (`stream_format`): each piece travels from the device worker to the response as
it is spoken, as encoded audio (wav, pcm, mp3) or base64 in OpenAI's server-sent events
(`speech.audio.delta`, then `speech.audio.done`, or `error` once the status is sent)."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import AsyncIterator
from concurrent.futures import Future

import numpy as np
from fastapi.concurrency import run_in_threadpool
from starlette.requests import Request

from tts_assets.serve.audio import StreamEncoder, change_speed, silence
from tts_assets.models.engines import Served
from tts_assets.serve.errors import ApiError, error_body
from tts_assets.serve.queue import JobRecord
from tts_assets.serve.service import SpeechService, while_connected


def sse_event(payload: dict) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


class SpeechStream:
    """One request's pieces, queued for the device: `start` waits for the first, `chunks` sends them all."""

    def __init__(self, service: SpeechService, served: Served, pieces: list[str]):
        self.service = service
        self.served = served
        self.pieces = pieces
        self._spoken: asyncio.Queue = asyncio.Queue()
        self._stop = threading.Event()
        self._future: Future | None = None
        self._first: tuple[np.ndarray, int] | None = None

    async def start(self, request: Request, label: str) -> tuple[int, JobRecord]:
        """The sample rate and the job, once the first piece is spoken: a request that fails at once
        still gets a JSON error, before any status is sent."""
        loop = asyncio.get_running_loop()

        def job() -> None:
            try:
                for item in self.service.speak_pieces(self.served, self.pieces, self._stop):
                    loop.call_soon_threadsafe(self._spoken.put_nowait, item)
            finally:
                loop.call_soon_threadsafe(self._spoken.put_nowait, None)  # the end, spoken or failed

        self._future, record = self.service.submit(job, label)
        self._first = await while_connected(request, self._spoken.get(), self._future, record, self._stop)
        if self._first is None:
            try:
                await asyncio.wrap_future(self._future)
            except Exception as exc:  # noqa: BLE001
                raise self.service.failure(exc, self.served) from None
            raise ApiError(500, "synthesis_failed", f"{self.served.checkpoint}: no audio was spoken")
        return self._first[1], record

    async def chunks(self, response_format: str, speed: float, sse: bool) -> AsyncIterator[bytes]:
        item, index, seconds = self._first, 0, 0.0
        rate = item[1]
        gap = silence(self.service.settings.sentence_pause_s / speed, rate)
        encoder = StreamEncoder(response_format, rate)

        def delta(data: bytes) -> bytes:
            return sse_event({"type": "speech.audio.delta", "audio": base64.b64encode(data).decode()}) if sse else data

        try:
            while item is not None:
                audio = await run_in_threadpool(change_speed, item[0], speed)
                if index:
                    audio = np.concatenate([gap, audio])
                seconds += len(audio) / rate
                data = encoder.encode(audio)
                if data:  # an mp3 encoder may hold a short piece until the next
                    yield delta(data)
                index += 1
                item = await self._spoken.get()
            try:
                await asyncio.wrap_future(self._future)
            except Exception as exc:  # noqa: BLE001 - the status is sent: report in-band, if at all
                error = self.service.failure(exc, self.served, mid_stream=True)
                if sse:
                    yield sse_event({"type": "error", **error_body(error.status, error.message, error.code)})
                return
            tail = encoder.finish()
            if tail:
                yield delta(tail)
            if sse:
                yield sse_event({"type": "speech.audio.done",
                                 "usage": {"text_pieces": index, "audio_seconds": round(seconds, 3)}})
        finally:
            self._stop.set()  # a client gone mid-stream: no more pieces are spoken for it
            encoder.close()
