"""Step time and peak memory of Qwen3-TTS fine-tuning at full size with random weights: our
training settings against the upstream recipe's (`finetuning/sft_12hz.py`) on the same batch.
Meant for a GPU machine; from the repository root:

    python -m bench.qwen3_step [--size 0.6B] [--batch-size 8] [--seconds 8] [--steps 10]
                               [--variants ours,ours_bf16,upstream] [--out bench.json]

- ours: fp32 master weights under bf16 autocast (fp32 on a CPU), AdamW on the fp32 weights,
  speaker embeddings computed once per reference clip (as `train_voice` does).
- ours_bf16: the same with `qwen3.weights: bfloat16`: bf16 weights, AdamW with Kahan summation.
- upstream: the model in bf16 under bf16 autocast (`Accelerator(mixed_precision="bf16")`), plain
  AdamW on the bf16 weights, the speaker encoder run on the batch's reference mels every step.
Both use the project's loss: upstream's own crashes on 0.6B (#120) and mislabels its targets. Also
reported: the share of weights with a gradient that one optimizer step at lr 2e-6 actually changes
(bf16 weights round most updates away; with Kahan summation the weight counts with its compensation). Nothing is downloaded: the configuration is built from the
published sizes and the weights are random, so the figures are the model's cost, not its quality.
Its tiny mode runs in the test suite.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from bench._common import measure_each
from tts_assets.qwen3.batch import Example, collate
from tts_assets.qwen3.loss import compute_losses
from tts_assets.qwen3.model import attention_implementation, training_optimizer

FRAME_RATE = 12.5
TOKENS_PER_SECOND = 3.5  # English text tokens per second of read speech
LR = 2e-6

# Published sizes (Qwen/Qwen3-TTS-12Hz-0.6B-Base and -1.7B-Base config.json); "tiny" is the test model's.
SIZES = {
    "0.6B": dict(hidden=1024, intermediate=3072, layers=28, heads=16, kv_heads=8, head_dim=128,
                 mrope=[24, 20, 20], text_hidden=2048, text_vocab=151936,
                 predictor=dict(hidden=1024, intermediate=3072, layers=5, heads=16, kv_heads=8)),
    "1.7B": dict(hidden=2048, intermediate=6144, layers=28, heads=16, kv_heads=8, head_dim=128,
                 mrope=[24, 20, 20], text_hidden=2048, text_vocab=151936,
                 predictor=dict(hidden=1024, intermediate=3072, layers=5, heads=16, kv_heads=8)),
    "tiny": dict(hidden=64, intermediate=128, layers=2, heads=4, kv_heads=2, head_dim=16,
                 mrope=[4, 2, 2], text_hidden=96, text_vocab=1000,
                 predictor=dict(hidden=48, intermediate=96, layers=1, heads=2, kv_heads=1)),
}


def model_config(size: str):
    from qwen_tts.core.models import Qwen3TTSConfig

    s = SIZES[size]
    p = s["predictor"]
    vocab = s["text_vocab"]
    speaker = {} if size != "tiny" else dict(enc_channels=[32, 32, 32, 32, 96], enc_attention_channels=16,
                                              enc_res2net_scale=4, enc_se_channels=16)
    return Qwen3TTSConfig(
        talker_config=dict(
            vocab_size=3072, hidden_size=s["hidden"], intermediate_size=s["intermediate"],
            num_hidden_layers=s["layers"], num_attention_heads=s["heads"], num_key_value_heads=s["kv_heads"],
            head_dim=s["head_dim"], hidden_act="silu", max_position_embeddings=32768, rms_norm_eps=1e-6,
            rope_theta=1000000, rope_scaling={"interleaved": True, "mrope_section": s["mrope"],
                                              "rope_type": "default", "type": "default"},
            num_code_groups=16, text_hidden_size=s["text_hidden"], text_vocab_size=vocab,
            codec_eos_token_id=2150, codec_think_id=2154, codec_nothink_id=2155, codec_think_bos_id=2156,
            codec_think_eos_id=2157, codec_pad_id=2148, codec_bos_id=2149,
            codec_language_id={"english": 2050}, spk_id={}, spk_is_dialect={}, position_id_per_seconds=13,
            code_predictor_config=dict(
                vocab_size=2048, hidden_size=p["hidden"], intermediate_size=p["intermediate"],
                num_hidden_layers=p["layers"], num_attention_heads=p["heads"], num_key_value_heads=p["kv_heads"],
                head_dim=s["head_dim"], num_code_groups=16, max_position_embeddings=65536, rope_theta=1000000,
            ),
        ),
        speaker_encoder_config=dict(enc_dim=s["hidden"], sample_rate=24000, **speaker),
        tokenizer_type="qwen3_tts_tokenizer_12hz", tts_model_size=size, tts_model_type="base",
        im_start_token_id=vocab - 7, im_end_token_id=vocab - 6,
        tts_pad_token_id=vocab - 3, tts_bos_token_id=vocab - 2, tts_eos_token_id=vocab - 1,
    )


def build_model(size: str, device: str, dtype: torch.dtype):
    from qwen_tts.core.models import Qwen3TTSForConditionalGeneration

    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen3TTSForConditionalGeneration._from_config(
            model_config(size), attn_implementation=attention_implementation(device), dtype=dtype
        )
    return model.train()


def synthetic_batch(size: str, batch_size: int, seconds: float, seed: int = 0):
    """The same text tokens, codes and reference audio for every variant."""
    rng = np.random.default_rng(seed)
    config = model_config(size)
    frames, n_text = round(seconds * FRAME_RATE), max(4, round(seconds * TOKENS_PER_SECOND))
    examples = []
    for _ in range(batch_size):
        text = rng.integers(0, config.talker_config.text_vocab_size - 8, size=n_text)
        ids = np.concatenate([[config.im_start_token_id, 77, 198], text])  # <|im_start|> assistant \n text
        codes = rng.integers(0, 2048, size=(frames, 16))
        examples.append(Example(torch.from_numpy(ids).long(), torch.from_numpy(codes).long()))
    t = np.arange(int(6 * 24000)) / 24000
    reference = (0.2 * np.sin(2 * np.pi * 140 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    return collate(examples, config), reference


def reference_mels(reference: np.ndarray) -> torch.Tensor:
    from qwen_tts.core.models.modeling_qwen3_tts import mel_spectrogram

    return mel_spectrogram(torch.from_numpy(reference).unsqueeze(0), n_fft=1024, num_mels=128, sampling_rate=24000,
                           hop_size=256, win_size=1024, fmin=0, fmax=12000).transpose(1, 2)


def held_weight(optimizer: torch.optim.Optimizer, parameter: torch.Tensor) -> torch.Tensor:
    """A copy, in fp32, of the weight as training holds it: with Kahan summation, plus its
    compensation (optimi keeps a one-byte placeholder where there is none)."""
    held = parameter.detach().to(torch.float32, copy=True)
    compensation = optimizer.state.get(parameter, {}).get("kahan_comp")
    if compensation is not None and compensation.shape == parameter.shape:
        held += compensation.float()
    return held


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run(variant: str, size: str, batch_size: int, seconds: float, steps: int, warmup: int = 3,
        device: str | None = None) -> dict:
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    cuda = device.startswith("cuda")
    upstream = variant == "upstream"
    weights = torch.float32 if variant == "ours" else torch.bfloat16
    model = build_model(size, device, weights)
    trainable = [p for n, p in model.named_parameters() if not n.startswith("speaker_encoder")]
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(not name.startswith("speaker_encoder"))
    if upstream:
        optimizer = torch.optim.AdamW(trainable, lr=LR, weight_decay=0.01)
    else:
        optimizer = training_optimizer(trainable, str(weights).removeprefix("torch."), LR, 0.01)
    batch_cpu, reference = synthetic_batch(size, batch_size, seconds)
    batch = batch_cpu.to(device)
    mels = reference_mels(reference).repeat(batch_size, 1, 1)
    with torch.no_grad():
        speaker_once = model.speaker_encoder(mels[:1].to(device, weights))[0].float().expand(batch_size, -1)
    # bf16 autocast on a GPU for all (as training does); on a CPU only where the weights are bf16.
    autocast = torch.autocast("cuda" if cuda else "cpu", dtype=torch.bfloat16, enabled=cuda or weights == torch.bfloat16)


    def step(measure: bool = False) -> tuple[float, float | None]:
        """One optimizer step; with `measure`, also the share of weights with a gradient that it changed."""
        if upstream:  # sft_12hz.py: speaker encoder on the batch's reference mels, every step
            with torch.no_grad():
                speaker = model.speaker_encoder(mels.to(device, weights)).detach()
        else:
            speaker = speaker_once
        with autocast:
            losses = compute_losses(model, batch, speaker, 0.3)
        losses.total.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        before = [(held_weight(optimizer, p), p.grad != 0) for p in trainable] if measure else []
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        changed = sum(int(((held_weight(optimizer, p) != old) & moved).sum()) for p, (old, moved) in zip(trainable, before))
        touched = sum(int(moved.sum()) for _, moved in before)
        return losses.total.item(), (changed / touched if measure else None)

    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times, losses = [], []
    for index in range(warmup + steps):
        _sync(device)
        started = time.perf_counter()
        loss, _ = step()
        _sync(device)
        if index >= warmup:
            times.append(time.perf_counter() - started)
            losses.append(loss)
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else None
    _, changed = step(measure=True)
    result = {
        "variant": variant, "size": size, "device": torch.cuda.get_device_name() if cuda else "cpu",
        "torch": torch.__version__, "attention": model.config._attn_implementation,
        "weights": str(weights).removeprefix("torch."), "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
        "batch_size": batch_size, "frames_per_clip": batch_cpu.predictor_codes.shape[0] // batch_size,
        "sequence_length": batch_cpu.text_ids.shape[1], "steps": steps,
        "median_step_s": round(statistics.median(times), 4), "mean_step_s": round(statistics.mean(times), 4),
        "frames_per_s": round(batch_size * round(seconds * FRAME_RATE) / statistics.median(times), 1),
        "peak_gpu_gib": round(peak, 2) if peak is not None else None,
        "first_loss": losses[0], "last_loss": losses[-1],
        "weights_changed_by_a_step": round(changed, 4),
    }
    del model, optimizer, trainable, batch
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    return result


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="0.6B")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each clip in the batch")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--variants", default="ours,ours_bf16,upstream")
    parser.add_argument("--device")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    return measure_each(
        args.variants.split(","),
        lambda variant: run(variant, args.size, args.batch_size, args.seconds, args.steps, args.warmup, args.device),
        args.out,
    )


if __name__ == "__main__":
    main()
