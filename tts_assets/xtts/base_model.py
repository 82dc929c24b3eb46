"""The XTTS-v2 base files: read without modifying them, and checked against the voice config.

coqui's own loader rewrites an original hub `model.pth` in place (`Xtts._load_checkpoint` re-saves
it when it holds a pickled XttsConfig) and `GPTTrainer` loads it and `dvae.pth` with
`strict=False`, so a wrong file gives a size-mismatch traceback or silently random weights. Here
the checkpoint is memory-mapped read-only and every tensor's shape is compared with the model the
config describes before any training starts.
"""

from __future__ import annotations

import logging
import pickle
import re
from pathlib import Path

import torch

from tts_assets.layout import DataLayout
from tts_assets.xtts.config import BaseFiles, XttsVoiceConfig
from tts_assets.xtts.errors import XttsConfigError

log = logging.getLogger(__name__)

# Keys GPTTrainer adds around the Xtts model, and inference-only copies made by init_gpt_for_inference.
_IGNORED_PREFIXES = ("dvae.", "torch_mel_spectrogram_style_encoder.", "torch_mel_spectrogram_dvae.",
                     "gpt.gpt_inference.", "gpt.gpt.wte.")
_IGNORED_KEYS = {"mel_stats"}


def read_checkpoint(path: Path) -> dict:
    """torch.load, memory-mapped (shapes are read without loading 1.8 GB), never writing the file;
    original hub checkpoints pickle an XttsConfig, which is allowed for this read only."""
    path = Path(path)

    def load(**kwargs):
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True, **kwargs)
        except RuntimeError as exc:  # not the zip format: no memory map
            if "mmap" not in str(exc) and "zip" not in str(exc):
                raise
            return torch.load(path, map_location="cpu", weights_only=True, **kwargs)

    try:
        try:
            return load()
        except pickle.UnpicklingError:
            from TTS.tts.models.xtts import _legacy_safe_globals

            with _legacy_safe_globals():
                return load()
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise XttsConfigError(path, f"cannot read checkpoint ({' '.join(str(exc).split())[:200]})") from exc


def xtts_state(checkpoint: dict) -> dict[str, torch.Tensor]:
    """The Xtts model's tensors from a hub `model.pth` or a GPTTrainer checkpoint (`xtts.` prefix)."""
    state = checkpoint.get("model", checkpoint)
    out = {}
    for key, value in state.items():
        key = key.removeprefix("xtts.")
        if key.startswith(_IGNORED_PREFIXES) or key in _IGNORED_KEYS or not isinstance(value, torch.Tensor):
            continue
        out[key] = value
    return out


def checkpoint_model_args(checkpoint: dict) -> dict:
    config = checkpoint.get("config")
    if isinstance(config, dict):
        return dict(config.get("model_args") or {})
    return {}


def load_tokenizer(vocab: Path):
    from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer

    return VoiceBpeTokenizer(vocab_file=str(vocab))


# config field -> coqui GPTArgs/XttsArgs field
GPT_ARG_NAMES = {
    "layers": "gpt_layers",
    "model_channels": "gpt_n_model_channels",
    "heads": "gpt_n_heads",
    "max_text_tokens": "gpt_max_text_tokens",
    "max_audio_tokens": "gpt_max_audio_tokens",
    "max_prompt_tokens": "gpt_max_prompt_tokens",
    "num_audio_tokens": "gpt_num_audio_tokens",
    "start_audio_token": "gpt_start_audio_token",
    "stop_audio_token": "gpt_stop_audio_token",
    "code_stride_len": "gpt_code_stride_len",
    "use_perceiver_resampler": "gpt_use_perceiver_resampler",
    "use_masking_gt_prompt_approach": "gpt_use_masking_gt_prompt_approach",
    "decoder_input_dim": "decoder_input_dim",
    "d_vector_dim": "d_vector_dim",
}


def coqui_model_args(config: XttsVoiceConfig) -> dict:
    return {GPT_ARG_NAMES[k]: v for k, v in config.gpt.model_dump().items()}


def expected_shapes(config: XttsVoiceConfig, tokenizer) -> dict[str, tuple[int, ...]]:
    """Every tensor of the Xtts model the config describes: the GPT built on the meta device (no
    memory), the HiFi-GAN decoder for real (~26M parameters, half a second)."""
    from TTS.tts.layers.xtts.gpt import GPT
    from TTS.tts.layers.xtts.hifigan_decoder import HifiDecoder

    g = config.gpt
    with torch.device("meta"):
        gpt = GPT(
            layers=g.layers, model_dim=g.model_channels, heads=g.heads,
            start_text_token=tokenizer.tokenizer.token_to_id("[START]"),
            stop_text_token=tokenizer.tokenizer.token_to_id("[STOP]"),
            max_text_tokens=g.max_text_tokens, max_mel_tokens=g.max_audio_tokens,
            max_prompt_tokens=g.max_prompt_tokens, number_text_tokens=tokenizer.get_number_tokens(),
            num_audio_tokens=g.num_audio_tokens, start_audio_token=g.start_audio_token,
            stop_audio_token=g.stop_audio_token, use_perceiver_resampler=g.use_perceiver_resampler,
            code_stride_len=g.code_stride_len,
        )
    shapes = {f"gpt.{k}": tuple(v.shape) for k, v in gpt.state_dict().items()}
    decoder = HifiDecoder(
        input_sample_rate=22050, output_sample_rate=24000, output_hop_length=256,
        ar_mel_length_compression=g.code_stride_len, decoder_input_dim=g.decoder_input_dim,
        d_vector_dim=g.d_vector_dim, cond_d_vector_in_each_upsampling_layer=True,
    )
    shapes.update({f"hifigan_decoder.{k}": tuple(v.shape) for k, v in decoder.state_dict().items()})
    return shapes


def inferred_gpt(state: dict[str, torch.Tensor]) -> dict:
    """What a checkpoint's tensors say about the GPT settings (heads cannot be read from shapes)."""
    found: dict = {}
    layers = [int(m.group(1)) for k in state if (m := re.match(r"gpt\.gpt\.h\.(\d+)\.", k))]
    if layers:
        found["layers"] = max(layers) + 1
    if "gpt.text_embedding.weight" in state:
        found["model_channels"] = state["gpt.text_embedding.weight"].shape[1]
    if "gpt.mel_embedding.weight" in state:
        found["num_audio_tokens"] = state["gpt.mel_embedding.weight"].shape[0]
    if "gpt.mel_pos_embedding.emb.weight" in state:
        found["max_audio_tokens"] = state["gpt.mel_pos_embedding.emb.weight"].shape[0] - 3
    if "gpt.text_pos_embedding.emb.weight" in state:
        found["max_text_tokens"] = state["gpt.text_pos_embedding.emb.weight"].shape[0] - 2
    if any(k.startswith("gpt.") for k in state):
        found["use_perceiver_resampler"] = any(k.startswith("gpt.conditioning_perceiver.") for k in state)
    if "hifigan_decoder.waveform_decoder.conv_pre.weight" in state:
        found["decoder_input_dim"] = state["hifigan_decoder.waveform_decoder.conv_pre.weight"].shape[1]
    if "hifigan_decoder.waveform_decoder.cond_layer.weight" in state:
        found["d_vector_dim"] = state["hifigan_decoder.waveform_decoder.cond_layer.weight"].shape[1]
    return found


def check_shapes(config: XttsVoiceConfig, tokenizer, checkpoint: dict, path: Path, vocab: Path) -> None:
    """Raise XttsConfigError naming the config fields (or tensors) that do not match `path`."""
    state = xtts_state(checkpoint)
    expected = expected_shapes(config, tokenizer)
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != expected[k]]
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    if not (wrong or missing or extra):
        _check_saved_args(config, checkpoint, path)
        return
    ours = config.gpt.model_dump()
    theirs = inferred_gpt(state)
    fields = [f"gpt.{k} {ours[k]} (checkpoint: {v})" for k, v in theirs.items() if ours.get(k) != v]
    text_rows = state.get("gpt.text_embedding.weight")
    if text_rows is not None and text_rows.shape[0] != tokenizer.get_number_tokens():
        fields.append(
            f"{vocab.name} has {tokenizer.get_number_tokens()} tokens (checkpoint: {text_rows.shape[0]}): use the "
            f"vocab.json that came with {path.name}"
        )
    if fields:
        detail = "; ".join(fields)
    else:
        samples = [f"{k} {list(state[k].shape)} vs {list(expected[k])}" for k in wrong[:3]]
        samples += [f"{k} missing" for k in missing[:3]] + [f"{k} unexpected" for k in extra[:3]]
        detail = "tensors differ: " + "; ".join(samples)
    raise XttsConfigError(path, f"does not match the gpt settings of {config.source}: {detail}")


def _check_saved_args(config: XttsVoiceConfig, checkpoint: dict, path: Path) -> None:
    """Settings shapes cannot show (heads, token ids) against the config saved in the checkpoint."""
    saved = checkpoint_model_args(checkpoint)
    differ = []
    for field, value in config.gpt.model_dump().items():
        name = GPT_ARG_NAMES[field]
        if name in saved and saved[name] is not None and saved[name] != value:
            differ.append(f"gpt.{field} {value} (checkpoint: {saved[name]})")
    if differ:
        raise XttsConfigError(path, f"does not match the gpt settings of {config.source}: {'; '.join(differ)}")


def check_dvae(config: XttsVoiceConfig, path: Path) -> None:
    """GPTTrainer loads dvae.pth with strict=False: a wrong file would leave the DVAE random."""
    from TTS.tts.layers.xtts.dvae import DiscreteVAE

    state = read_checkpoint(path)
    state = state.get("model", state) if isinstance(state, dict) else state
    dvae = DiscreteVAE(  # (not on the meta device: its constructor samples a distribution)
        channels=80, normalization=None, positional_dims=1, num_tokens=config.gpt.num_audio_tokens - 2,
        codebook_dim=512, hidden_dim=512, num_resnet_blocks=3, kernel_size=3, num_layers=2,
        use_transposed_convs=False,
    )
    expected = {k: tuple(v.shape) for k, v in dvae.state_dict().items()}
    if not isinstance(state, dict):
        raise XttsConfigError(path, "is not a DVAE state dict")
    problems = [k for k in expected if k not in state or tuple(state[k].shape) != expected[k]]
    if problems:
        key = problems[0]
        got = list(state[key].shape) if key in state else "missing"
        raise XttsConfigError(
            path, f"does not fit a DVAE of gpt.num_audio_tokens {config.gpt.num_audio_tokens}: {key} {got} vs "
            f"{list(expected[key])} ({len(problems)} tensors differ)"
        )


def check_mel_stats(path: Path) -> None:
    stats = read_checkpoint(path)
    if not isinstance(stats, torch.Tensor) or stats.numel() != 80 or not torch.isfinite(stats).all():
        raise XttsConfigError(path, "is not XTTS mel statistics (80 finite values)")


def check_base_model(config: XttsVoiceConfig, layout: DataLayout) -> tuple[BaseFiles, dict]:
    """Everything training needs, checked before any work. Returns the files and the base
    checkpoint (memory-mapped)."""
    files = config.check_files(layout)
    tokenizer = load_tokenizer(files.vocab)
    checkpoint = read_checkpoint(files.model)
    if not isinstance(checkpoint, dict):
        raise XttsConfigError(files.model, "is not an XTTS checkpoint")
    check_shapes(config, tokenizer, checkpoint, files.model, files.vocab)
    check_dvae(config, files.dvae)
    check_mel_stats(files.mel_stats)
    return files, checkpoint
