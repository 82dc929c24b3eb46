"""Qwen3-TTS on a tiny real-architecture model: codes from real clips, the label alignment the
upstream recipe gets wrong, training that learns, checkpoints that speak and resume."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors import safe_open

from bench.librivox import build_aligned_voice
from bench.tiny_models import build_tiny_qwen3
from tts_assets.layout import DataLayout
from tts_assets.manifest.io import read_jsonl
from tts_assets.qwen3.batch import IGNORE, collate
from tts_assets.qwen3.checkpoint import SPEAKER_ROW, checkpoints
from tts_assets.qwen3.codes import encode_voice_codes, load_24k
from tts_assets.qwen3.inference import Qwen3Voice
from tts_assets.qwen3.loss import input_embeddings, sub_talker_inputs
from tts_assets.qwen3.model import load_for_training
from tts_assets.qwen3.paths import codes_manifest, codes_store, run_dir
from tts_assets.settings import Qwen3Settings
from tts_assets.qwen3.train import Position, build_examples, lr_factor, steps_for, train_voice, training_plan

VOICE = "reader"


@pytest.fixture(scope="module")
def tiny_qwen3(tmp_path_factory):
    return build_tiny_qwen3(tmp_path_factory.mktemp("qwen3") / "tiny-base")


@pytest.fixture(scope="module")
def encoded_root(tmp_path_factory, tiny_qwen3):
    data = build_aligned_voice(tmp_path_factory.mktemp("qwen3_voice"), VOICE)
    encode_voice_codes(DataLayout(data), VOICE, settings_for(tiny_qwen3), "cpu")
    return data


@pytest.fixture
def layout(encoded_root, tmp_path):
    """A private copy of the encoded voice, so each test's checkpoints are its own."""
    shutil.copytree(encoded_root, tmp_path / "data")
    return DataLayout(tmp_path / "data")


def settings_for(base, **overrides) -> Qwen3Settings:
    defaults = dict(base_model=str(base), device="cpu", epochs=4, batch_size=2, grad_accum=1, lr=1e-3,
                    warmup_steps=1, sample_max_new_tokens=20)
    return Qwen3Settings(**{**defaults, **overrides})


@pytest.fixture(scope="module")
def model_and_batch(tiny_qwen3, encoded_root):
    from qwen_tts.core.models import Qwen3TTSProcessor

    model = load_for_training(tiny_qwen3, "cpu").eval()
    rows = list(read_jsonl(codes_manifest(DataLayout(encoded_root), VOICE)))
    store = dict(np.load(codes_store(DataLayout(encoded_root), VOICE)))
    examples = build_examples(rows[:2], store, Qwen3TTSProcessor.from_pretrained(str(tiny_qwen3)))
    return model, examples


def test_codes_manifest_from_real_clips(encoded_root):
    layout = DataLayout(encoded_root)
    rows = list(read_jsonl(codes_manifest(layout, VOICE)))
    aligned = {str(layout.dataset_dir(VOICE) / r["audio_file"]): r for r in read_jsonl(layout.aligned_manifest(VOICE))}
    store = np.load(codes_store(layout, VOICE))
    assert len(rows) == len(aligned) == 5
    assert {r["ref_audio"] for r in rows} == {rows[0]["ref_audio"]}  # one reference for the voice
    assert 5.0 <= sf.info(rows[0]["ref_audio"]).duration <= 10.0
    for row in rows:
        codes = np.asarray(row["audio_codes"])
        assert codes.shape[1] == 16 and 0 <= codes.min() and codes.max() < 2048
        assert abs(len(codes) - aligned[row["audio"]]["duration"] * 12.5) <= 1.5  # 12.5 frames per second
        start, end = store["offsets"][row["codes_index"]], store["offsets"][row["codes_index"] + 1]
        assert np.array_equal(store["codes"][start:end], codes)
        assert row["split"] == aligned[row["audio"]]["split"]
    assert len(set(np.asarray(rows[0]["audio_codes"])[:, 0])) > 1  # codes vary with the audio
    assert codes_store(layout, VOICE).stat().st_size * 2 < codes_manifest(layout, VOICE).stat().st_size


def test_other_sample_rates_are_resampled_up_front(tmp_path):
    path = tmp_path / "clip16k.wav"
    sf.write(path, np.zeros(16000, dtype=np.float32), 16000)
    assert len(load_24k(path)) == 24000


def test_talker_targets_are_shifted_exactly_once(model_and_batch):
    model, examples = model_and_batch
    batch = collate(examples, model.config)
    for b, example in enumerate(examples):
        positions = torch.nonzero(batch.talker_targets[b] != IGNORE).flatten()
        # The target at position p is what enters the codec channel at p + 1: frame j, then eos.
        assert torch.equal(batch.talker_targets[b, positions], batch.codec_ids[b, positions + 1])
        assert torch.equal(batch.talker_targets[b, positions[:-1]], example.codes[:, 0])
        assert batch.talker_targets[b, positions[-1]] == model.config.talker_config.codec_eos_token_id
        frames = torch.nonzero(batch.frame_mask[b]).flatten()
        assert torch.equal(positions[:-1], frames - 1)
    mine = batch.predictor_positions
    assert torch.equal(batch.predictor_codes[0], examples[0].codes[0])
    assert mine[0].tolist() == [0, int(torch.nonzero(batch.frame_mask[0])[0]) - 1]


def test_no_prediction_sees_its_own_target(model_and_batch):
    """Change frame j's codes in the input: every state that predicts frame j (talker logits and
    the sub-talker's starting state) must not move; later ones must."""
    model, examples = model_and_batch
    batch = collate(examples[:1], model.config)
    speaker = torch.zeros(1, model.config.talker_config.hidden_size)
    frames = torch.nonzero(batch.frame_mask[0]).flatten()
    j = len(frames) // 2
    changed = collate(examples[:1], model.config)
    changed.frame_codes[0, frames[j]] = (changed.frame_codes[0, frames[j]] + 7) % 2048
    changed.codec_ids[0, frames[j]] = changed.frame_codes[0, frames[j], 0]
    with torch.no_grad():
        out = [model.talker(inputs_embeds=input_embeddings(model, x, speaker), attention_mask=x.attention_mask,
                            output_hidden_states=True) for x in (batch, changed)]
    hidden = [o.hidden_states[0][-1][0] for o in out]
    predictor_position = int(batch.predictor_positions[j, 1])
    assert predictor_position == frames[j] - 1
    assert torch.allclose(hidden[0][: frames[j]], hidden[1][: frames[j]], atol=1e-6)
    assert not torch.allclose(hidden[0][frames[j]], hidden[1][frames[j]], atol=1e-6)

    # Sub-talker: output k predicts codebook k + 1 and must not depend on codebooks > k.
    codes = batch.predictor_codes[:3].clone()
    state = hidden[0][batch.predictor_positions[:3, 1]]
    with torch.no_grad():
        base = model.talker.code_predictor.forward_finetune(inputs_embeds=sub_talker_inputs(model, state, codes)).logits
        for k in (1, 5, 14):
            spoiled = codes.clone()
            spoiled[:, k] = (spoiled[:, k] + 11) % 2048
            logits = model.talker.code_predictor.forward_finetune(
                inputs_embeds=sub_talker_inputs(model, state, spoiled)).logits
            assert torch.allclose(base[:, :k], logits[:, :k], atol=1e-6)  # predictions of codebooks 1..k
            assert not torch.allclose(base[:, k], logits[:, k], atol=1e-6)  # codebook k+1 sees codebook k


def test_text_goes_through_text_projection_as_at_inference(model_and_batch):
    model, examples = model_and_batch
    talker = model.talker
    assert talker.config.text_hidden_size != talker.config.hidden_size  # like 0.6B
    batch = collate(examples[:1], model.config)
    with torch.no_grad():
        embedded = input_embeddings(model, batch, torch.zeros(1, talker.config.hidden_size))
        # Inference builds the role prefix as text_projection(text_embedding(ids)), no codec.
        expected = talker.text_projection(talker.get_text_embeddings()(examples[0].text_ids[:3].unsqueeze(0)))
    assert torch.allclose(embedded[0, :3], expected[0], atol=1e-6)


# Qwen2's pre-tokenizer pattern: a run of letters is one piece, combining marks stand apart.
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                 r"\s*[\r\n]+|\s+(?!\S)|\s+")
INNER_CAPITALS = "McDonald bought an iPhone from DeWitt and Zoe\u0308."


def qwen_sized_tokenizer(folder):
    """Give a model folder a Qwen-like tokenizer: Qwen2's split then byte-level BPE, over 100k base
    tokens (transformers only re-patches the pre-tokenizer of one that large), merges that join
    across an inner capital and a combining mark."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Qwen2TokenizerFast

    from bench.tiny_models import SPECIAL_TOKENS

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(["assistant\n" * 50, f"{INNER_CAPITALS} " * 50], trainer)
    spec = json.loads(tokenizer.to_str())
    vocab = spec["model"]["vocab"]
    vocab.update({f"unused{i}": len(vocab) + i for i in range(100_001)})
    fast = Qwen2TokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(spec)), unk_token=None,
                              bos_token=None, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    fast.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS[1:]})
    assert fast.vocab_size > 100_000
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"):
        (folder / name).unlink(missing_ok=True)
    fast.save_pretrained(folder)


def test_training_tokenizes_text_as_inference_does(tiny_qwen3, tmp_path):
    from qwen_tts.core.models import Qwen3TTSProcessor

    from tts_assets.qwen3.model import load_text_processor

    folder = tmp_path / "qwen-sized"
    shutil.copytree(tiny_qwen3, folder)
    qwen_sized_tokenizer(folder)
    assert json.loads((folder / "config.json").read_text())["transformers_version"] == "4.57.3"
    chat = f"<|im_start|>assistant\n{INNER_CAPITALS}<|im_end|>\n<|im_start|>assistant\n"
    speaking = speaking_processor(folder)(text=chat, return_tensors="pt")["input_ids"][0]
    training = load_text_processor(folder)(text=chat, return_tensors="pt")["input_ids"][0]
    assert training.tolist() == speaking.tolist()
    # The path is taken: the processor loaded as the trainer once did splits these words otherwise.
    plain = Qwen3TTSProcessor.from_pretrained(str(folder))(text=chat, return_tensors="pt")["input_ids"][0]
    assert plain.tolist() != speaking.tolist()


def speaking_processor(folder):
    """The processor of the wrapper that speaks (`Qwen3Voice` builds one)."""
    from qwen_tts.inference.qwen3_tts_model import Qwen3TTSModel

    return Qwen3TTSModel.from_pretrained(str(folder), dtype=torch.float32).processor


def test_inference_feeds_the_layout_training_built(layout, tiny_qwen3):
    """The talker's prefill when a checkpoint speaks is, position by position, what training fed
    it before the first frame: fails if inference changes layout (streaming text, a language tag)."""
    from tts_assets.qwen3.model import load_text_processor

    checkpoint = train_voice(layout, VOICE, settings_for(tiny_qwen3), max_steps=1).checkpoint
    text = "He was not an ill disposed young man."
    voice = Qwen3Voice(checkpoint, "cpu")
    prefill = []

    def record_prefill(module, args, kwargs):
        if not prefill:  # later calls feed one frame each
            prefill.append(kwargs["inputs_embeds"].detach().clone())

    voice.model.model.talker.register_forward_pre_hook(record_prefill, with_kwargs=True)
    voice.speak(text, max_new_tokens=2, seed=0)

    model = load_for_training(checkpoint, "cpu").eval()
    store = {"offsets": np.array([0, 1]), "codes": np.zeros((1, 16), dtype=np.int64)}
    example = build_examples([{"text": text, "codes_index": 0}], store, load_text_processor(checkpoint))[0]
    speaker = model.talker.model.codec_embedding.weight[SPEAKER_ROW].unsqueeze(0)
    with torch.no_grad():
        trained = input_embeddings(model, collate([example], model.config), speaker)
    before_first_frame = len(example.text_ids) + 7
    assert prefill[0].shape[1] == before_first_frame
    assert torch.allclose(prefill[0][0], trained[0, :before_first_frame], atol=1e-5)


def test_training_learns_and_the_checkpoint_speaks(layout, tiny_qwen3):
    result = train_voice(layout, VOICE, settings_for(tiny_qwen3, epochs=6))
    assert all(np.isfinite(result.train_losses))
    assert np.mean(result.train_losses[-3:]) < np.mean(result.train_losses[:3]) - 0.3
    assert result.val_losses[-1] < result.val_losses[0]
    checkpoint = result.checkpoint
    config = json.loads((checkpoint / "config.json").read_text())
    assert config["tts_model_type"] == "custom_voice" and config["talker_config"]["spk_id"] == {VOICE: SPEAKER_ROW}
    with safe_open(checkpoint / "model.safetensors", "pt") as weights:
        assert any(k.startswith("speaker_encoder.") for k in weights.keys())  # kept for resuming (#204)
    assert len(checkpoints(run_dir(layout, VOICE))) == 2  # pruned to keep_checkpoints
    assert list((run_dir(layout, VOICE) / "tensorboard").glob("events.out.tfevents.*"))

    voice = Qwen3Voice(checkpoint, "cpu")
    audio, rate = voice.speak("He was not an ill disposed young man.", max_new_tokens=20, seed=0)
    assert rate == 24000 and len(audio) >= 1920 and np.isfinite(audio).all()


RESUMABLE_RUN = """
import sys
from pathlib import Path
from tts_assets.layout import DataLayout
from tts_assets.settings import Qwen3Settings
from tts_assets.qwen3.train import train_voice
settings = Qwen3Settings(base_model=sys.argv[2], device="cpu", epochs=50, batch_size=1, grad_accum=2,
                         lr=1e-3, warmup_steps=1, save_every_steps=2, keep_checkpoints=3)
train_voice(DataLayout(Path(sys.argv[1])), "reader", settings)
"""


def test_a_killed_run_resumes_from_its_last_checkpoint(layout, tiny_qwen3):
    run = run_dir(layout, VOICE)
    child = subprocess.Popen([sys.executable, "-c", RESUMABLE_RUN, str(layout.root), str(tiny_qwen3)],
                             env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.monotonic() + 240
    while not checkpoints(run) and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.2)
    child.send_signal(signal.SIGKILL)
    child.wait()
    saved = checkpoints(run)
    assert saved, "the child wrote no checkpoint before it was killed"
    saved_step = int(saved[-1].name.split("-")[1])
    settings = settings_for(tiny_qwen3, epochs=50, batch_size=1, grad_accum=2, save_every_steps=2, keep_checkpoints=3)
    result = train_voice(layout, VOICE, settings, max_steps=saved_step + 3)
    assert result.resumed_from_step == saved_step
    assert result.step == saved_step + 3 and len(result.train_losses) == 3
    assert checkpoints(run)[-1].name == f"checkpoint-{saved_step + 3}"


def test_command_line_convert_train_samples_infer(tmp_path, tiny_qwen3):
    data = build_aligned_voice(tmp_path / "voice", VOICE)
    settings = tmp_path / "settings.yaml"
    settings.write_text(f"qwen3:\n  base_model: {tiny_qwen3}\n  device: cpu\n  sample_max_new_tokens: 20\n"
                        "  batch_size: 2\n  grad_accum: 1\n")
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "TTS_ASSETS_SETTINGS": str(settings),
           "TTS_ASSETS_DATA_ROOT": str(data)}
    cli = [os.path.join(os.path.dirname(sys.executable), "tts-assets")]

    def run(*args):
        return subprocess.run([*cli, *args], capture_output=True, text=True, env=env, timeout=600)

    converted = run("convert-qwen3", VOICE)
    assert converted.returncode == 0, converted.stderr
    assert "5 clips" in converted.stdout
    trained = run("train-qwen3", VOICE, "--epochs", "1", "--lr", "1e-4", "--max-steps", "2")
    assert trained.returncode == 0, trained.stderr
    layout = DataLayout(data)
    checkpoint = checkpoints(run_dir(layout, VOICE))[-1]
    assert checkpoint.name == "checkpoint-2" and str(checkpoint) in trained.stdout
    samples = sorted((run_dir(layout, VOICE) / "samples" / checkpoint.name).glob("*.wav"))
    assert len(samples) == 2 and all(sf.info(s).samplerate == 24000 for s in samples)
    out = tmp_path / "hello.wav"
    spoken = run("infer", str(checkpoint), str(out), "--text", "Hello there.", "--max-new-tokens", "15")
    assert spoken.returncode == 0, spoken.stderr
    assert sf.info(out).samplerate == 24000 and sf.info(out).frames > 0
    missing = run("train-qwen3", "nobody")
    assert missing.returncode == 2 and "convert-qwen3 nobody" in missing.stderr


def test_references_of_different_lengths_share_a_batch(layout, tiny_qwen3):
    """Each reference is embedded alone (never padded together), so rows with different
    references batch and train like any others."""
    manifest = codes_manifest(layout, VOICE)
    rows = list(read_jsonl(manifest))
    other = rows[1]["audio"]  # a clip of another length than the chosen reference
    assert sf.info(other).duration != sf.info(rows[0]["ref_audio"]).duration
    for row in rows[::2]:
        row["ref_audio"] = other
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = train_voice(layout, VOICE, settings_for(tiny_qwen3, epochs=1, batch_size=4))
    assert result.step == 1 and np.isfinite(result.train_losses).all()


def test_unchanged_data_is_not_retrained_and_new_data_trains_on(layout, tiny_qwen3):
    settings = settings_for(tiny_qwen3, epochs=1)
    first = train_voice(layout, VOICE, settings)
    again = train_voice(layout, VOICE, settings)
    assert again.step == first.step and again.train_losses == []  # finished run, same data: nothing to do
    manifest = layout.aligned_manifest(VOICE)
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    rows[0]["text"] += " Again."  # the dataset changed: a corrected text
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    more = train_voice(layout, VOICE, settings)
    assert more.resumed_from_step is None and more.step == 2 * first.step
    from tts_assets.models.trained_on import needs_training

    assert needs_training(layout, VOICE, run_dir(layout, VOICE)) == (False, "up to date")


def test_pruning_spares_the_checkpoint_promoted_for_serving(layout, tiny_qwen3):
    from tts_assets.models.promotion import promote

    first = train_voice(layout, VOICE, settings_for(tiny_qwen3, epochs=1, keep_checkpoints=1))
    promote(layout, VOICE, "qwen3", first.checkpoint)
    later = train_voice(layout, VOICE, settings_for(tiny_qwen3, epochs=3, keep_checkpoints=1))
    kept = [c.name for c in checkpoints(run_dir(layout, VOICE))]
    assert kept == [first.checkpoint.name, later.checkpoint.name]


def test_the_default_recipe_steps_on_128_clips_as_upstream_does():
    plan = training_plan(Position(), Qwen3Settings(), clips=2000, validation_clips=40)
    assert (plan.effective_batch, plan.steps_per_epoch, plan.steps) == (128, 16, 160)
    # A new round of the data after 160 steps: a schedule of its own; mid-epoch: what remains.
    assert training_plan(Position(step=160, round_start=160), Qwen3Settings(), 2000, 40).steps == 160
    assert training_plan(Position(step=20, epoch=1, clips_done=512, round_start=0), Qwen3Settings(), 2000, 40).steps == 160


def test_a_resumed_run_takes_changed_settings_and_rebuilds_its_schedule(layout, tiny_qwen3, caplog):
    clips = sum(r["split"] == "train" for r in read_jsonl(codes_manifest(layout, VOICE)))
    assert clips >= 3
    train_voice(layout, VOICE, settings_for(tiny_qwen3, epochs=2, batch_size=1, grad_accum=1), max_steps=2)
    changed = settings_for(tiny_qwen3, epochs=3, batch_size=2, grad_accum=2, lr=5e-4)
    with caplog.at_level("WARNING", logger="tts_assets.qwen3.train"):
        result = train_voice(layout, VOICE, changed)
    for line in ("qwen3.batch_size was 1, is 2", "qwen3.grad_accum was 1, is 2", "qwen3.epochs was 2, is 3",
                 "qwen3.lr was 0.001, is 0.0005"):
        assert line in caplog.text
    # The 2 clips of epoch 0 already seen are not seen again; the rest go in the new batches.
    expected = 2 + steps_for(clips - 2, 2, 2) + 2 * steps_for(clips, 2, 2)
    assert result.resumed_from_step == 2 and result.step == expected == result.plan.steps
    assert result.learning_rates[0] == pytest.approx(5e-4 * lr_factor(2, 1, expected))
    assert result.learning_rates[-1] == pytest.approx(5e-4 * lr_factor(expected - 1, 1, expected))
    assert len(result.val_losses) == 3  # epochs 1..3 end in this run


def test_a_voice_without_validation_clips_trains_and_says_so(layout, tiny_qwen3, caplog):
    manifest = codes_manifest(layout, VOICE)
    rows = [{**r, "split": "train"} for r in read_jsonl(manifest)]
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with caplog.at_level("WARNING", logger="tts_assets.qwen3.train"):
        result = train_voice(layout, VOICE, settings_for(tiny_qwen3, epochs=1, grad_accum=100))
    assert "no validation clips: training without a validation loss" in caplog.text
    assert "only 1 optimizer steps: the learning rate never leaves its 1-step warm-up" in caplog.text
    assert result.val_losses == [] and result.plan.validation_clips == 0 and result.step == 1
    assert checkpoints(run_dir(layout, VOICE))[-1] == result.checkpoint


def test_fp32_master_weights_take_the_updates_that_bf16_weights_round_away():
    """At upstream's lr 2e-6 an AdamW step on bf16 weights (the upstream recipe) changes only a few
    percent of the weights it has gradients for; on our fp32 master weights it changes them all. The
    code is the GPU benchmark's (`python -m bench.qwen3_step`), so this also keeps it working."""
    from bench.qwen3_step import run

    ours, upstream = (run(variant, "tiny", batch_size=2, seconds=3.0, steps=1, warmup=0, device="cpu")
                      for variant in ("ours", "upstream"))
    assert (ours["weights"], upstream["weights"]) == ("float32", "bfloat16")
    assert ours["weights_changed_by_a_step"] > 0.99
    assert upstream["weights_changed_by_a_step"] < 0.1
    assert np.isfinite([ours["last_loss"], upstream["last_loss"]]).all()


def test_bf16_weights_keep_small_updates_with_the_compensated_optimizer():
    """`qwen3.weights: bfloat16` (1.7B on a 24 GB card): the same gradients, of a size a 1.7B model's
    have after clipping (1e-6), thirty AdamW steps at upstream's lr. With Kahan summation the bf16
    weight plus its compensation moves as the fp32 master weight does; plain AdamW on bf16 weights
    (upstream's recipe) keeps under 1% of the movement."""
    from bench.qwen3_step import held_weight
    from tts_assets.qwen3.model import training_optimizer

    torch.manual_seed(0)
    start = torch.randn(4096)
    grads = [torch.randn(4096) * 1e-6 for _ in range(30)]

    def moved(dtype, make_optimizer):
        weight = torch.nn.Parameter(start.to(dtype, copy=True))
        optimizer = make_optimizer([weight])
        for grad in grads:
            weight.grad = grad.to(dtype)
            optimizer.step()
        return held_weight(optimizer, weight) - start.to(dtype).float()

    fp32 = moved(torch.float32, lambda w: training_optimizer(w, "float32", 2e-6, 0.01))
    kahan = moved(torch.bfloat16, lambda w: training_optimizer(w, "bfloat16", 2e-6, 0.01))
    plain = moved(torch.bfloat16, lambda w: torch.optim.AdamW(w, lr=2e-6, weight_decay=0.01))
    assert torch.nn.functional.cosine_similarity(kahan, fp32, dim=0) > 0.99
    assert 0.95 < kahan.norm() / fp32.norm() < 1.05
    assert plain.norm() < 0.01 * fp32.norm()


def test_bf16_weights_train_speak_and_take_over_an_fp32_run(layout, tiny_qwen3, caplog):
    train_voice(layout, VOICE, settings_for(tiny_qwen3, epochs=6), max_steps=1)
    with caplog.at_level("WARNING", logger="tts_assets.qwen3.train"):
        result = train_voice(layout, VOICE, settings_for(tiny_qwen3, epochs=6, weights="bfloat16"))
    assert "qwen3.weights is now bfloat16: the optimizer state starts afresh" in caplog.text
    assert result.resumed_from_step == 1 and all(np.isfinite(result.train_losses))
    assert np.mean(result.train_losses[-3:]) < np.mean(result.train_losses[:3]) - 0.3
    with safe_open(result.checkpoint / "model.safetensors", "pt") as weights:
        assert weights.get_tensor("talker.codec_head.weight").dtype == torch.bfloat16
    again = train_voice(layout, VOICE, settings_for(tiny_qwen3, epochs=7, weights="bfloat16"))
    assert again.resumed_from_step == result.step  # its own optimizer state resumes
    audio, rate = Qwen3Voice(again.checkpoint, "cpu").speak("He was not an ill disposed young man.",
                                                            max_new_tokens=20, seed=0)
    assert rate == 24000 and len(audio) >= 1920 and np.isfinite(audio).all()


def test_a_stopped_run_does_not_count_as_trained_on_its_data(layout, tiny_qwen3):
    """Only a run through all its epochs records the dataset it trained on; a stopped one stays due
    (the nightly schedule retrains it) and resumes where it stopped."""
    from tts_assets.models.trained_on import needs_training

    train_voice(layout, VOICE, settings_for(tiny_qwen3, epochs=2), max_steps=1)
    assert needs_training(layout, VOICE, run_dir(layout, VOICE)) == (True, "never trained")
    finished = train_voice(layout, VOICE, settings_for(tiny_qwen3, epochs=2))
    assert finished.resumed_from_step == 1
    assert needs_training(layout, VOICE, run_dir(layout, VOICE)) == (False, "up to date")


def test_a_kill_between_the_swaps_of_a_resaved_checkpoint_loses_nothing(layout, tiny_qwen3):
    """Saving a step again sets the old folder aside, renames the new one in, then deletes the old:
    killed in between, neither name exists; the next run puts the old one back and resumes from it."""
    from tts_assets.qwen3.checkpoint import STATE_FILE

    first = train_voice(layout, VOICE, settings_for(tiny_qwen3, epochs=2), max_steps=1)
    run = run_dir(layout, VOICE)
    first.checkpoint.rename(run / f".{first.checkpoint.name}.replaced")  # the kill, mid-swap
    (run / ".checkpoint-0.pruned").mkdir()  # and a prune cut short, earlier
    (run / ".checkpoint-0.pruned" / STATE_FILE).write_bytes(b"")
    resumed = train_voice(layout, VOICE, settings_for(tiny_qwen3, epochs=2))
    assert resumed.resumed_from_step == 1
    assert not list(run.glob(".checkpoint-*"))
