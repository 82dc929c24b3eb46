"""Fixed sentences spoken by the newest checkpoint, as WAVs and TensorBoard audio."""

from __future__ import annotations

from tts_assets.atomic import write_wav_atomic
from tts_assets.errors import InputFileError
from tts_assets.layout import DataLayout
from tts_assets.qwen3.checkpoint import checkpoints
from tts_assets.qwen3.inference import Qwen3Voice
from tts_assets.qwen3.paths import run_dir, samples_dir
from tts_assets.settings import Qwen3Settings


def write_samples(layout: DataLayout, voice: str, settings: Qwen3Settings) -> dict:
    from torch.utils.tensorboard import SummaryWriter

    run = run_dir(layout, voice)
    found = checkpoints(run)
    if not found:
        raise InputFileError(run, "no checkpoint yet; run `tts-assets train-qwen3` first")
    checkpoint = found[-1]
    step = int(checkpoint.name.split("-")[-1])
    speaker = Qwen3Voice(checkpoint, settings.device)
    folder = samples_dir(layout, voice, checkpoint.name)
    writer = SummaryWriter(str(run / "tensorboard"))
    samples = []
    for index, text in enumerate(settings.sample_sentences):
        audio, rate = speaker.speak(text, max_new_tokens=settings.sample_max_new_tokens, seed=index)
        path = folder / f"sample_{index:02d}.wav"
        write_wav_atomic(path, audio, rate, "PCM_16")
        writer.add_audio(f"samples/{index:02d}", audio, step, sample_rate=rate)
        samples.append({"text": text, "seconds": len(audio) / rate, "path": str(path)})
    writer.close()
    return {"checkpoint": str(checkpoint), "folder": str(folder), "samples": samples}
