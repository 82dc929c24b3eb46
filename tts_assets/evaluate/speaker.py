"""Speaker embeddings for speaker similarity, all usable offline.

- `resemblyzer` (default): the GE2E speaker encoder (3-layer LSTM over 40-band mels, 256-d
  embedding; Apache-2.0) whose trained weights ship inside the `resemblyzer` wheel on PyPI
  (`resemblyzer/pretrained.pt`, 17 MB). It is independent of the TTS model under test and the same
  for every engine, so Qwen3 and XTTS figures compare. Only the weights file is read: the package
  itself is never imported (it would import `webrtcvad`); its preprocessing is reimplemented here,
  with an energy-based silence trim in place of webrtcvad's. Same-speaker cosine similarity is
  typically 0.8-0.95, different speakers 0.5-0.75 (embeddings are non-negative).
- a path to a GE2E `.pt` file (`{"model_state": ...}`, e.g. a copy of that file): the same, offline.
- `qwen3` / `qwen3:<folder>`: Qwen3-TTS's own ECAPA-TDNN speaker encoder, read from the
  `speaker_encoder.*` tensors of a model folder: `qwen3` alone uses the checkpoint under test
  (ours keep the encoder, frozen during training, so it equals the base model's); upstream
  custom-voice checkpoints drop it, so give the base model folder for those. Not independent
  of the model under test, and its similarity scale differs: set `min_speaker_similarity` for it.
- `none`: no speaker similarity.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Protocol

import numpy as np
import soxr
import torch

from tts_assets.errors import EvaluationError

MIN_SPEECH_S = 0.3  # less voiced audio than this has no speaker to embed


class SpeakerEmbedder(Protocol):
    name: str

    def embed(self, audio: np.ndarray, rate: int) -> np.ndarray | None:
        """A unit-length embedding, or None when the audio holds (almost) no speech."""


def cosine(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """Cosine similarity; 0.0 when either side had no speech."""
    if a is None or b is None:
        return 0.0
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def voiced(audio: np.ndarray, rate: int, window_s: float = 0.03, floor_db: float = -50.0,
           below_peak_db: float = 35.0, dilate: int = 6) -> np.ndarray:
    """The audio without its long silences: 30 ms windows quieter than both an absolute floor
    and 35 dB under the loudest window are dropped, after dilating the voiced ones by 6 windows
    (as resemblyzer's webrtcvad trim keeps short pauses)."""
    size = int(rate * window_s)
    count = len(audio) // size
    if count == 0:
        return audio[:0]
    frames = audio[: count * size].reshape(count, size)
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    threshold = max(10 ** (floor_db / 20), rms.max() * 10 ** (-below_peak_db / 20))
    loud = rms > threshold
    if dilate and loud.any():
        # Full convolution, centred: mode="same" returns the kernel's length for audio shorter than it.
        loud = np.convolve(loud.astype(int), np.ones(2 * dilate + 1, int))[dilate : dilate + count] > 0
        loud &= rms > 10 ** (floor_db / 20)
    return frames[loud].reshape(-1)


def speech_at(audio: np.ndarray, rate: int, target_rate: int, min_speech_s: float = MIN_SPEECH_S) -> np.ndarray | None:
    """The voiced part of `audio` at `target_rate`, or None when there is too little to embed."""
    wav = np.asarray(audio, dtype=np.float32)
    if rate != target_rate:
        wav = soxr.resample(wav, rate, target_rate).astype(np.float32)
    wav = voiced(wav, target_rate)
    return wav if len(wav) >= min_speech_s * target_rate else None


class Ge2eEmbedder:
    """The GE2E encoder of resemblyzer (Wan et al. 2018), with its own hyper-parameters."""

    rate = 16000
    partial_frames = 160  # 1.6 s partial utterances
    hop = 160  # 10 ms
    window = 400  # 25 ms
    mels = 40

    def __init__(self, weights: Path, device: str = "cpu"):
        self.name = f"ge2e:{weights}"
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)["model_state"]
        except (OSError, KeyError, RuntimeError, EOFError) as exc:
            raise EvaluationError(weights, f"not a GE2E speaker-encoder weights file ({exc})") from exc
        self.lstm = torch.nn.LSTM(self.mels, 256, 3, batch_first=True)
        self.linear = torch.nn.Linear(256, 256)
        self.lstm.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("lstm.")})
        self.linear.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("linear.")})
        self.device = device
        self._mel_transform = None
        self.lstm.to(device).eval()
        self.linear.to(device).eval()

    def _mel(self, wav: np.ndarray) -> np.ndarray:
        """resemblyzer's mel spectrogram (librosa's defaults: Slaney mels, zero-padded centred frames,
        power 2), through torchaudio: librosa's first call alone costs 2 s of imports."""
        if self._mel_transform is None:
            import torchaudio

            self._mel_transform = torchaudio.transforms.MelSpectrogram(
                sample_rate=self.rate, n_fft=self.window, hop_length=self.hop, n_mels=self.mels,
                norm="slaney", mel_scale="slaney", pad_mode="constant")
        with torch.no_grad():
            mel = self._mel_transform(torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32)))
        return mel.numpy().T

    def partial_mels(self, audio: np.ndarray, rate: int, step_s: float = 1 / 1.3,
                     min_speech_s: float = MIN_SPEECH_S) -> np.ndarray | None:
        """The mels of the audio's 1.6 s partial utterances, one every `step_s` (partials × 160 × 40),
        or None when it holds less than `min_speech_s` of speech: embed them with `embed_partials`,
        many utterances in one batch."""
        wav = speech_at(audio, rate, self.rate, min_speech_s)
        if wav is None:
            return None
        rms = float(np.sqrt(np.mean(wav**2)))  # resemblyzer: raise the volume to -30 dBFS
        gain = 10 ** (-30 / 20) / max(rms, 1e-9)
        wav = wav * gain if gain > 1 else wav
        # Partial utterances of 1.6 s, 1.3 per second (resemblyzer's), the last kept if it is 75 % covered.
        frame_step = int(round(self.rate * step_s / self.hop))
        frames = int(np.ceil((len(wav) + 1) / self.hop))
        starts = list(range(0, max(1, frames - self.partial_frames + frame_step + 1), frame_step))
        last = starts[-1] * self.hop
        if len(starts) > 1 and (len(wav) - last) / (self.partial_frames * self.hop) < 0.75:
            starts = starts[:-1]
        needed = (starts[-1] + self.partial_frames) * self.hop
        if needed > len(wav):
            wav = np.pad(wav, (0, needed - len(wav)))
        mel = self._mel(wav)
        return np.stack([mel[s : s + self.partial_frames] for s in starts])

    def embed_partials(self, mels: np.ndarray) -> np.ndarray:
        """Unit-length embeddings of partial utterances' mels, one batch through the LSTM."""
        with torch.no_grad():
            _, (hidden, _) = self.lstm(torch.from_numpy(mels).to(self.device))
            raw = torch.relu(self.linear(hidden[-1]))
            return (raw / torch.norm(raw, dim=1, keepdim=True).clamp_min(1e-12)).cpu().numpy()

    def embed(self, audio: np.ndarray, rate: int) -> np.ndarray | None:
        mels = self.partial_mels(audio, rate)
        if mels is None:
            return None
        return utterance_embedding(self.embed_partials(mels))


def utterance_embedding(partials: np.ndarray) -> np.ndarray:
    """GE2E's utterance embedding: the normalized mean of its partials' embeddings."""
    mean = partials.mean(axis=0)
    return mean / max(np.linalg.norm(mean), 1e-12)


class Qwen3SpeakerEncoder:
    """Qwen3-TTS's ECAPA-TDNN speaker encoder, loaded alone from a model folder's weights."""

    rate = 24000

    def __init__(self, folder: Path, device: str = "cpu"):
        from qwen_tts.core.models import Qwen3TTSConfig
        from qwen_tts.core.models.modeling_qwen3_tts import Qwen3TTSSpeakerEncoder
        from safetensors import safe_open

        self.name = f"qwen3:{folder}"
        folder = Path(folder)
        try:
            config = Qwen3TTSConfig.from_pretrained(str(folder))
        except (OSError, ValueError) as exc:
            raise EvaluationError(folder, f"not a Qwen3-TTS model folder ({exc})") from exc
        state = {}
        for shard in _weight_files(folder):
            with safe_open(str(shard), "pt") as weights:
                for key in weights.keys():
                    if key.startswith("speaker_encoder."):
                        state[key.removeprefix("speaker_encoder.")] = weights.get_tensor(key)
        if not state:
            raise EvaluationError(folder, "holds no speaker-encoder weights (upstream custom-voice checkpoints "
                                          "drop them); set speaker_model to qwen3:<base model folder>")
        self.encoder = Qwen3TTSSpeakerEncoder(config.speaker_encoder_config)
        self.encoder.load_state_dict(state)
        self.encoder.to(device).float().eval()
        self.device = device

    def embed(self, audio: np.ndarray, rate: int) -> np.ndarray | None:
        from qwen_tts.core.models.modeling_qwen3_tts import mel_spectrogram

        wav = speech_at(audio, rate, self.rate)
        if wav is None:
            return None
        mels = mel_spectrogram(torch.from_numpy(wav).unsqueeze(0), n_fft=1024, num_mels=128, sampling_rate=24000,
                               hop_size=256, win_size=1024, fmin=0, fmax=12000).transpose(1, 2)
        with torch.no_grad():
            embedding = self.encoder(mels.to(self.device))[0].float().cpu().numpy()
        return embedding / max(np.linalg.norm(embedding), 1e-12)


def _weight_files(folder: Path) -> list[Path]:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        return [folder / s for s in shards]
    single = folder / "model.safetensors"
    if not single.is_file():
        raise EvaluationError(folder, "has no model.safetensors")
    return [single]


def resemblyzer_weights() -> Path:
    """`pretrained.pt` of the installed resemblyzer wheel, found without importing the package."""
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise EvaluationError("resemblyzer", "speaker model not installed (pip install resemblyzer==0.1.4 --no-deps); "
                                             "or set evaluation.speaker_model to qwen3, a GE2E .pt file or none")
    weights = Path(list(spec.submodule_search_locations)[0]) / "pretrained.pt"
    if not weights.is_file():
        raise EvaluationError(weights, "resemblyzer is installed without its pretrained.pt")
    return weights


def load_embedder(spec: str, checkpoint: Path | None = None, device: str = "cpu") -> SpeakerEmbedder | None:
    """The embedder a `speaker_model` setting names (see the module's docstring); None for `none`."""
    spec = spec.strip()
    if spec.lower() == "none":
        return None
    if spec.lower() == "resemblyzer":
        return Ge2eEmbedder(resemblyzer_weights(), device)
    if spec.lower() == "qwen3" or spec.lower().startswith("qwen3:"):
        folder = spec.split(":", 1)[1] if ":" in spec else checkpoint
        if not folder:
            raise EvaluationError("qwen3", "speaker model qwen3 needs a checkpoint or qwen3:<model folder>")
        return Qwen3SpeakerEncoder(Path(folder).expanduser(), device)
    path = Path(spec).expanduser()
    if path.is_file():
        return Ge2eEmbedder(path, device)
    raise EvaluationError(spec, "unknown speaker model: use resemblyzer, qwen3, qwen3:<folder>, a GE2E .pt file "
                                "or none")
