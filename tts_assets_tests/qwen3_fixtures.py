"""A tiny random-weight Qwen3-TTS 12 Hz Base model in the real on-disk layout (adapted from the
recipe in shared/recipes): real architecture and files, 4 M parameters, text_hidden_size (96) ≠
hidden_size (64) as in 0.6B (2048 ≠ 1024)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tts_pad>", "<tts_text_bos>", "<tts_text_eod>"]
CODEBOOK = 2048


def _text_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Qwen2TokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    corpus = ["assistant\n" * 50, "user\n" * 20,
              "He was not an ill disposed young man. The quick brown fox jumps over the lazy dog. " * 20,
              "Had he married a more amiable woman, he might have been made still more respectable. " * 20]
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(corpus, trainer)
    fast = Qwen2TokenizerFast(tokenizer_object=tokenizer, unk_token=None, bos_token=None,
                              eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    fast.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS[1:]})
    return fast


def build_tiny_qwen3(out: Path) -> Path:
    from transformers import EncodecFeatureExtractor

    from qwen_tts.core import Qwen3TTSTokenizerV2Config, Qwen3TTSTokenizerV2Model
    from qwen_tts.core.models import Qwen3TTSConfig, Qwen3TTSForConditionalGeneration, Qwen3TTSProcessor

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    text_tokenizer = _text_tokenizer()
    ids = {t: text_tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}

    speech_config = Qwen3TTSTokenizerV2Config(
        encoder_config=dict(
            sampling_rate=24000, frame_rate=12.5, hidden_size=32, num_filters=4, num_residual_layers=1,
            upsampling_ratios=[8, 6, 5, 4], codebook_size=CODEBOOK, codebook_dim=16, num_quantizers=16,
            vector_quantization_hidden_dimension=16, num_semantic_quantizers=1, upsample_groups=32,
            num_hidden_layers=1, intermediate_size=64, num_attention_heads=2, num_key_value_heads=2,
            head_dim=16, sliding_window=250, use_cache=False,
        ),
        decoder_config=dict(
            codebook_size=CODEBOOK, codebook_dim=16, hidden_size=32, latent_dim=32, num_attention_heads=2,
            num_key_value_heads=2, head_dim=16, intermediate_size=64, num_hidden_layers=1,
            num_quantizers=16, upsample_rates=[8, 5, 4, 3], upsampling_ratios=[2, 2], decoder_dim=32,
            sliding_window=72,
        ),
        encoder_valid_num_quantizers=16, input_sample_rate=24000, output_sample_rate=24000,
        decode_upsample_rate=1920, encode_downsample_rate=1920,
    )
    speech = Qwen3TTSTokenizerV2Model(speech_config)
    with torch.no_grad():  # HF init leaves the RVQ codebooks at zero: every frame would be code 0
        for name, buffer in speech.named_buffers():
            if name.endswith("embed_sum"):
                buffer.normal_()
        for name, parameter in speech.named_parameters():
            if name.endswith("embedding_sum"):
                parameter.normal_()
    speech.save_pretrained(out / "speech_tokenizer")
    EncodecFeatureExtractor(feature_size=1, sampling_rate=24000, padding_value=0.0,
                            return_attention_mask=True).save_pretrained(out / "speech_tokenizer")

    hidden, text_hidden, head = 64, 96, 16
    config = Qwen3TTSConfig(
        talker_config=dict(
            vocab_size=3072, hidden_size=hidden, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, head_dim=head, hidden_act="silu",
            max_position_embeddings=4096, rms_norm_eps=1e-6, rope_theta=1000000,
            rope_scaling={"interleaved": True, "mrope_section": [4, 2, 2], "rope_type": "default", "type": "default"},
            num_code_groups=16, text_hidden_size=text_hidden, text_vocab_size=len(text_tokenizer),
            codec_eos_token_id=2150, codec_think_id=2154, codec_nothink_id=2155,
            codec_think_bos_id=2156, codec_think_eos_id=2157, codec_pad_id=2148, codec_bos_id=2149,
            codec_language_id={"english": 2050, "chinese": 2055},
            spk_id={}, spk_is_dialect={}, position_id_per_seconds=13,
            code_predictor_config=dict(
                vocab_size=CODEBOOK, hidden_size=48, intermediate_size=96, num_hidden_layers=1,
                num_attention_heads=2, num_key_value_heads=1, head_dim=head, num_code_groups=16,
                max_position_embeddings=64, rope_theta=1000000,
            ),
        ),
        speaker_encoder_config=dict(
            mel_dim=128, enc_dim=hidden, enc_channels=[32, 32, 32, 32, 96], enc_kernel_sizes=[5, 3, 3, 3, 1],
            enc_dilations=[1, 2, 3, 4, 1], enc_attention_channels=16, enc_res2net_scale=4, enc_se_channels=16,
            sample_rate=24000,
        ),
        tokenizer_type="qwen3_tts_tokenizer_12hz", tts_model_size="tiny", tts_model_type="base",
        im_start_token_id=ids["<|im_start|>"], im_end_token_id=ids["<|im_end|>"],
        tts_pad_token_id=ids["<tts_pad>"], tts_bos_token_id=ids["<tts_text_bos>"],
        tts_eos_token_id=ids["<tts_text_eod>"],
    )
    config.architectures = ["Qwen3TTSForConditionalGeneration"]
    Qwen3TTSForConditionalGeneration(config).save_pretrained(out)
    # Qwen3TTSSpeakerEncoderConfig takes no **kwargs, yet save_pretrained writes a "model_type" into
    # speaker_encoder_config that AutoConfig then refuses: strip it, like the published config.json.
    config_path = out / "config.json"
    saved = json.loads(config_path.read_text())
    saved["speaker_encoder_config"].pop("model_type", None)
    config_path.write_text(json.dumps(saved, indent=2))
    Qwen3TTSProcessor(tokenizer=text_tokenizer).save_pretrained(out)
    (out / "generation_config.json").write_text(json.dumps(dict(
        do_sample=True, top_k=50, top_p=1.0, temperature=0.9, repetition_penalty=1.05,
        subtalker_dosample=True, subtalker_top_k=50, subtalker_top_p=1.0, subtalker_temperature=0.9,
        max_new_tokens=16), indent=2))
    return out


def build_aligned_voice(root: Path, voice: str = "reader") -> Path:
    """A data root holding a real aligned dataset: the five LibriVox clips, 30% validation."""
    import os

    import dagster as dg
    import numpy as np
    import soundfile as sf

    from tts_assets.defs.launch import build_book_and_dataset, run_voice_job
    from tts_assets.layout import DataLayout
    from tts_assets.dataset.sources import BookSource, register_book

    from .conftest import LIBRIVOX, LIBRIVOX_IDS, librivox_transcripts

    texts = librivox_transcripts()
    parts, lines, position = [], [], 0
    for clip_id in LIBRIVOX_IDS:
        audio, rate = sf.read(LIBRIVOX / f"sense_and_sensibility_01_austen_64kb-{clip_id}.wav", dtype="float32")
        lines.append(json.dumps({"start": position / rate, "end": (position + len(audio)) / rate, "text": texts[clip_id]}))
        parts += [audio, np.zeros(rate, np.float32)]
        position += len(audio) + rate
    root.mkdir(parents=True, exist_ok=True)
    sf.write(root / "book.flac", np.concatenate(parts), rate)
    (root / "segments.jsonl").write_text("\n".join(lines) + "\n")
    (root / "settings.yaml").write_text("dataset:\n  quality:\n    val_fraction: 0.3\n")
    (root / "dagster_home").mkdir(exist_ok=True)
    saved = {k: os.environ.get(k) for k in ("DAGSTER_HOME", "TTS_ASSETS_SETTINGS", "TTS_ASSETS_DATA_ROOT")}
    os.environ["DAGSTER_HOME"] = str(root / "dagster_home")
    os.environ["TTS_ASSETS_SETTINGS"] = str(root / "settings.yaml")
    os.environ["TTS_ASSETS_DATA_ROOT"] = str(root / "data")
    try:
        layout = DataLayout(root / "data")
        register_book(layout, voice, BookSource("audiobook", str(root / "book.flac"), str(root / "segments.jsonl")))
        with dg.DagsterInstance.get() as instance:
            build_book_and_dataset(instance, voice, "book")
            assert run_voice_job(instance, "align_voice", voice).success
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return root / "data"
