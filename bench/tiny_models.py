"""Tiny random-weight models in the real on-disk layouts, for the tests and the GPU training smoke
(`bench.gpu.train_smoke`); nothing is downloaded.

Qwen3-TTS 12 Hz Base (`build_tiny_qwen3`, adapted from the recipe in shared/recipes): real
architecture and files, 4 M parameters, text_hidden_size (96) ≠ hidden_size (64) as in 0.6B
(2048 ≠ 1024).

XTTS-v2 (`build_tiny_base_model`): stand-ins for the files a user downloads from the XTTS-v2 model
repository:
  vocab.json     coqui's bundled tortoise tokenizer + the [START]/[en] special tokens
  mel_stats.pth  torch.ones(80)
  dvae.pth       a randomly initialised DiscreteVAE with GPTTrainer's fixed arguments
  model.pth      a randomly initialised Xtts with a tiny GPT (2 layers, 64 channels) and the real
                 HiFi-GAN decoder, saved as {"config", "model"} like the hub checkpoint
and `write_voice_config`, a voice config that trains and samples it in a few fast steps."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import yaml

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


VOICE = "reader"  # the voice `bench.librivox.build_aligned_voice` aligns

# The GPT of the tiny base checkpoint. max_audio_tokens is small so that a random GPT, which
# generates until the limit, produces ~7 s of audio; export.max_samples must fit it (150000).
TINY_GPT = {"layers": 2, "model_channels": 64, "heads": 4, "max_audio_tokens": 150, "decoder_input_dim": 64}
TINY_EXPORT = {"max_samples": 150000}
# Few, fast steps: no loader workers, no test sentences (a random GPT generates to max length).
TINY_TRAINING = {
    "epochs": 1, "batch_size": 2, "grad_accum_steps": 1, "num_loader_workers": 0, "tensorboard_audio": False,
    "print_step": 1, "plot_step": 1, "save_step": 1000, "keep_checkpoints": 2,
    "min_conditioning_seconds": 1.0, "max_conditioning_seconds": 2.0,
}


def build_tiny_base_model(folder: Path, gpt: dict | None = None) -> Path:
    """Write vocab.json, mel_stats.pth, dvae.pth and model.pth for a tiny XTTS into `folder`."""
    from tokenizers import Tokenizer

    import TTS
    from TTS.tts.configs.xtts_config import XttsArgs, XttsConfig
    from TTS.tts.layers.xtts.dvae import DiscreteVAE
    from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer
    from TTS.tts.models.xtts import Xtts

    from tts_assets.xtts.base_model import GPT_ARG_NAMES
    from tts_assets.xtts.config import GptSettings

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    tokenizer = Tokenizer.from_file(str(Path(TTS.__file__).parent / "tts/utils/assets/tortoise/tokenizer.json"))
    tokenizer.add_special_tokens(["[START]", "[en]"])
    tokenizer.save(str(folder / "vocab.json"))
    torch.save(torch.ones(80), folder / "mel_stats.pth")
    settings = GptSettings(**{**TINY_GPT, **(gpt or {})})
    dvae = DiscreteVAE(
        channels=80, normalization=None, positional_dims=1, num_tokens=settings.num_audio_tokens - 2,
        codebook_dim=512, hidden_dim=512, num_resnet_blocks=3, kernel_size=3, num_layers=2,
        use_transposed_convs=False,
    )
    torch.save(dvae.state_dict(), folder / "dvae.pth")
    args = {GPT_ARG_NAMES[k]: v for k, v in settings.model_dump().items()}
    config = XttsConfig(model_args=XttsArgs(**args, tokenizer_file=str(folder / "vocab.json")))
    model = Xtts(config)
    model.tokenizer = VoiceBpeTokenizer(vocab_file=str(folder / "vocab.json"))
    model.init_models()
    torch.save({"config": config.to_dict(), "model": model.state_dict()}, folder / "model.pth")
    return folder


def write_voice_config(path: Path, base_dir: Path, voice: str = VOICE, **sections) -> Path:
    """A voice config for the tiny base model; `sections` merge into its sections (None drops one)."""
    data = {
        "voice": voice,
        "language": "en",
        "base_model": {"dir": str(base_dir)},
        "gpt": dict(TINY_GPT),
        "export": dict(TINY_EXPORT),
        "training": dict(TINY_TRAINING),
        "samples": {"sentences": ["He was not an ill disposed young man."], "device": "cpu"},
    }
    for name, values in sections.items():
        if values is None:
            data.pop(name, None)
        elif isinstance(values, dict) and isinstance(data.get(name), dict):
            data[name] = {**data[name], **values}
        else:
            data[name] = values
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
