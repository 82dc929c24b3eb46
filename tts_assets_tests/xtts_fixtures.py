"""XTTS test fixtures: a tiny offline stand-in for the XTTS-v2 base files, and a real aligned
dataset (LibriVox speech, built by the project's own pipeline) with clips coqui would swap.

Stand-ins for the files a user downloads from the XTTS-v2 model repository (nothing is downloaded):
  vocab.json     coqui's bundled tortoise tokenizer + the [START]/[en] special tokens
  mel_stats.pth  torch.ones(80)
  dvae.pth       a randomly initialised DiscreteVAE with GPTTrainer's fixed arguments
  model.pth      a randomly initialised Xtts with a tiny GPT (2 layers, 64 channels) and the real
                 HiFi-GAN decoder, saved as {"config", "model"} like the hub checkpoint
Import the fixtures by name from test modules (conftest.py is not edited for them).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from .conftest import LIBRIVOX_IDS

os.environ.setdefault("HF_HUB_OFFLINE", "1")

VOICE = "reader"

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
    import torch
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


@pytest.fixture(scope="session")
def tiny_xtts_base(tmp_path_factory) -> Path:
    return build_tiny_base_model(tmp_path_factory.mktemp("xtts_base"))


def _short_word_span(librivox_book) -> tuple[float, float, str]:
    """A real word under 0.5 s inside the first sentence, located by the project's aligner."""
    import numpy as np

    from tts_assets.aligners.base import ALIGN_RATE
    from tts_assets.aligners.pocketsphinx_backend import PocketsphinxAligner
    from tts_assets.text.normalize import normalize_text, spoken_words

    from .conftest import decoded

    sentence = librivox_book.sentences[0]
    audio = decoded(librivox_book.audio, ALIGN_RATE)[int(sentence["start"] * ALIGN_RATE) : int(sentence["end"] * ALIGN_RATE)]
    words = PocketsphinxAligner().align(np.asarray(audio, dtype=np.float32), spoken_words(normalize_text(sentence["text"])))
    short = [w for w in words if len(w.word) >= 4 and 0.2 < w.end - w.start < 0.42]
    word = min(short, key=lambda w: w.end - w.start)
    return sentence["start"] + word.start, sentence["start"] + word.end, word.word


@pytest.fixture(scope="session")
def xtts_dataset_root(tmp_path_factory, librivox_book) -> Path:
    """A data root holding voice `reader`'s aligned dataset, built by the project's pipeline from
    the LibriVox book registered twice: book `one` has a single-word clip (< 0.5 s) and a 16 s clip
    (three sentences), book `two` the first three sentences: 2 train + 2 eval clips after the export's
    rejections, so one epoch is one step at batch 2. Read-only: copy it (see `xtts_data_root`)."""
    import dagster as dg

    from tts_assets.defs.launch import build_book_and_dataset, run_voice_job
    from tts_assets.layout import DataLayout
    from tts_assets.dataset.sources import BookSource, register_book

    base = tmp_path_factory.mktemp("xtts_dataset")
    root = base / "data"
    layout = DataLayout(root)
    s = librivox_book.sentences
    start, end, word = _short_word_span(librivox_book)
    book_one = [
        {"start": start, "end": end, "text": word},
        {"start": s[1]["start"], "end": s[3]["end"], "text": " ".join(x["text"] for x in s[1:4])},
        dict(s[4]),
    ]
    (base / "one.jsonl").write_text("".join(json.dumps(x) + "\n" for x in book_one))
    (base / "two.jsonl").write_text("".join(json.dumps(x) + "\n" for x in s[:3]))
    settings = base / "settings.yaml"
    settings.write_text(yaml.safe_dump({"dataset": {
        "merge": {"min_clip_s": 0.1, "max_clip_s": 20.0, "merge_below_s": 0.0, "pad_s": 0.0},
        "align": {"pad_s": 0.0},
        "quality": {"val_fraction": 0.5, "min_snr_db": 0, "rate_iqr_k": 100, "max_chars_per_s": 40},
    }}))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TTS_ASSETS_DATA_ROOT", str(root))
        mp.setenv("TTS_ASSETS_SETTINGS", str(settings))
        mp.setenv("DAGSTER_HOME", str(base / "home"))
        (base / "home").mkdir()
        shutil.copyfile(Path(__file__).parent.parent / "dagster.yaml", base / "home" / "dagster.yaml")
        with dg.DagsterInstance.get() as instance:
            for book in ("one", "two"):
                register_book(layout, VOICE, BookSource("audiobook", str(librivox_book.audio), str(base / f"{book}.jsonl")), book)
                book_run, _ = build_book_and_dataset(instance, VOICE, book)
                assert book_run.success
            assert run_voice_job(instance, "align_voice", VOICE).success
    assert len(LIBRIVOX_IDS) == 5
    return root


@pytest.fixture
def xtts_data_root(xtts_dataset_root, data_root, dagster_home):
    """A fresh copy of the aligned dataset under this test's data root ($TTS_ASSETS_DATA_ROOT).
    The test's checkpoints (~300 MB each, even for the tiny GPT) are deleted afterwards."""
    shutil.copytree(xtts_dataset_root / "datasets", data_root / "datasets")
    yield data_root
    for checkpoint in (data_root / "models").rglob("*.pth"):
        checkpoint.unlink()
