"""Checkpoints that both serve and resume, and fit on a disk.

A checkpoint folder is the base model's folder with a `custom_voice` config (the voice as speaker,
embedding in codec row 3000, as upstream writes it) so `Qwen3TTSModel.from_pretrained(dir)` serves
it; unlike upstream it keeps the speaker encoder's weights (#204). Written to a temporary folder
and renamed, so a checkpoint either exists whole or not at all.

Only the newest checkpoint of a run is resumable: full-precision training weights and a
`training_state.pt` with the optimizer, scheduler and RNG. Once a newer one exists it is made
servable: weights in the base model's dtype (bf16 for the released models, as upstream saves) and a
training state of step, epoch, settings and dataset fingerprint only. The speech tokenizer (680 MB
for the released models) is copied once per run folder; each checkpoint's `speech_tokenizer` is a
relative link to it (`from_pretrained` follows it; copy a checkpoint elsewhere with `cp -rL`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from tts_assets.errors import InputFileError

SPEAKER_ROW = 3000
STATE_FILE = "training_state.pt"
WEIGHTS_FILE = "model.safetensors"
SPEECH_TOKENIZER = "speech_tokenizer"
# Marks servable weights (in the safetensors header, readable without loading a tensor).
SERVABLE_KEY = "servable_dtype"
# Written beside the files they replace, renamed over them one at a time (see `recover`).
SERVABLE_WEIGHTS_TMP = f".{WEIGHTS_FILE}.servable.tmp"
SERVABLE_STATE_TMP = f".{STATE_FILE}.servable.tmp"
RESUME_ONLY = ("optimizer", "scheduler", "torch_rng")


def _copy_base(base: Path, target: Path) -> None:
    for item in base.iterdir():
        if item.name in (WEIGHTS_FILE, "config.json", STATE_FILE, SPEECH_TOKENIZER) or item.name.startswith("."):
            continue
        if item.is_dir():
            shutil.copytree(item, target / item.name)
        else:
            shutil.copy2(item, target / item.name)


def _file_sizes(folder: Path) -> dict[str, int]:
    return {str(f.relative_to(folder)): f.stat().st_size for f in sorted(folder.rglob("*")) if f.is_file()}


def shared_speech_tokenizer(base: Path, run_dir: Path) -> Path | None:
    """The run folder's one copy of the base's speech tokenizer (None if the base has none),
    copied on first use: to a temporary name, then renamed. The copy reads through the links of a
    hub cache snapshot, so it outlives a cleaned cache."""
    source = base / SPEECH_TOKENIZER
    if not source.is_dir():
        return None
    shared = run_dir / SPEECH_TOKENIZER
    if not shared.is_dir():
        tmp = run_dir / f".{SPEECH_TOKENIZER}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(source, tmp)
        tmp.rename(shared)
    elif _file_sizes(shared) != _file_sizes(source):
        raise InputFileError(source, f"differs from the speech tokenizer the checkpoints of {run_dir} share; "
                                     "train this base model in another data root or move that run folder away")
    return shared


def custom_voice_config(base_config: dict, voice: str) -> dict:
    config = json.loads(json.dumps(base_config))
    config["tts_model_type"] = "custom_voice"
    talker = config.setdefault("talker_config", {})
    talker["spk_id"] = {voice: SPEAKER_ROW}
    talker["spk_is_dialect"] = {voice: False}
    return config


def save_checkpoint(
    model, base: Path, target: Path, voice: str, speaker: torch.Tensor, state: dict
) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    _copy_base(base, tmp)
    if shared_speech_tokenizer(base, target.parent) is not None:
        (tmp / SPEECH_TOKENIZER).symlink_to(Path("..") / SPEECH_TOKENIZER, target_is_directory=True)
    base_config = json.loads((base / "config.json").read_text())
    (tmp / "config.json").write_text(json.dumps(custom_voice_config(base_config, voice), indent=2))
    weights = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    row = weights["talker.model.codec_embedding.weight"]
    row[SPEAKER_ROW] = speaker.detach().to("cpu", row.dtype)
    save_file(weights, tmp / WEIGHTS_FILE, metadata={"format": "pt"})
    torch.save(state, tmp / STATE_FILE)
    if target.exists():  # the same step saved again: the old one stays aside until the new one is in
        replaced = _set_aside(target, "replaced")
        tmp.rename(target)
        shutil.rmtree(replaced)
    else:
        tmp.rename(target)
    return target


def _set_aside(checkpoint: Path, why: str) -> Path:
    """Out of the listing (a dot-name) in one rename, before a slow delete a kill could cut short."""
    aside = checkpoint.with_name(f".{checkpoint.name}.{why}")
    shutil.rmtree(aside, ignore_errors=True)
    checkpoint.rename(aside)
    return aside


def recover(run_dir: Path) -> None:
    """Finish what a kill cut short: a replaced checkpoint whose successor never arrived comes back;
    half-pruned checkpoints and unfinished writes go; a checkpoint killed between the two renames
    of `make_servable` gets its slim training state, one killed before them keeps its full files."""
    for replaced in run_dir.glob(".checkpoint-*.replaced"):
        original = replaced.with_name(replaced.name[1 : -len(".replaced")])
        if original.exists():
            shutil.rmtree(replaced)
        else:
            replaced.rename(original)
    for leftover in [*run_dir.glob(".checkpoint-*.pruned"), *run_dir.glob(".checkpoint-*.tmp"),
                     run_dir / f".{SPEECH_TOKENIZER}.tmp"]:
        shutil.rmtree(leftover, ignore_errors=True)
    for checkpoint in run_dir.glob("checkpoint-*"):
        if (checkpoint / SERVABLE_STATE_TMP).exists() and _is_servable(checkpoint):
            os.replace(checkpoint / SERVABLE_STATE_TMP, checkpoint / STATE_FILE)
        for leftover in (checkpoint / SERVABLE_WEIGHTS_TMP, checkpoint / SERVABLE_STATE_TMP):
            leftover.unlink(missing_ok=True)


def checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    found = [p for p in run_dir.glob("checkpoint-*") if (p / STATE_FILE).is_file() and (p / WEIGHTS_FILE).is_file()]
    return sorted(found, key=lambda p: int(re.sub(r"\D", "", p.name) or 0))


def prune(run_dir: Path, keep: int, protect: Path | None = None) -> None:
    """Keep the newest `keep` checkpoints, and `protect` (the one promoted for serving)."""
    for old in checkpoints(run_dir)[:-keep] if keep > 0 else []:
        if protect is None or old.resolve() != protect.resolve():
            shutil.rmtree(_set_aside(old, "pruned"))


def retire_older(run_dir: Path, keep: int, protect: Path | None = None) -> None:
    """After a save: prune to `keep` (sparing `protect`), then make every checkpoint but the newest
    servable (the protected one too: it is served, not resumed)."""
    prune(run_dir, keep, protect)
    for older in checkpoints(run_dir)[:-1]:
        make_servable(older)


def serving_dtype(config: dict) -> torch.dtype:
    """The dtype the base model was published in (bf16 when its config does not say)."""
    name = config.get("torch_dtype") or config.get("dtype") or "bfloat16"
    return getattr(torch, str(name).removeprefix("torch."))


def _is_servable(checkpoint: Path) -> bool:
    with safe_open(checkpoint / WEIGHTS_FILE, "pt") as weights:
        return SERVABLE_KEY in (weights.metadata() or {})


def make_servable(checkpoint: Path) -> None:
    """Weights cast to the base model's dtype, training state without what only resuming needs.

    Both slim files are written beside the full ones, then renamed over them, weights first: a kill
    leaves each file whole, old or new (`recover` finishes or undoes it). Casting one tensor at a
    time keeps memory at about the slim size; the full state is memory-mapped, so the optimizer's
    tensors are never read."""
    if _is_servable(checkpoint):
        return
    dtype = serving_dtype(json.loads((checkpoint / "config.json").read_text()))
    state = torch.load(checkpoint / STATE_FILE, map_location="cpu", weights_only=False, mmap=True)
    torch.save({k: v for k, v in state.items() if k not in RESUME_ONLY}, checkpoint / SERVABLE_STATE_TMP)
    del state
    with safe_open(checkpoint / WEIGHTS_FILE, "pt") as full:
        metadata = {**(full.metadata() or {}), SERVABLE_KEY: str(dtype).removeprefix("torch.")}
        slim = {}
        for name in full.keys():
            tensor = full.get_tensor(name)
            slim[name] = tensor.to(dtype) if tensor.is_floating_point() else tensor
    save_file(slim, checkpoint / SERVABLE_WEIGHTS_TMP, metadata=metadata)
    os.replace(checkpoint / SERVABLE_WEIGHTS_TMP, checkpoint / WEIGHTS_FILE)
    os.replace(checkpoint / SERVABLE_STATE_TMP, checkpoint / STATE_FILE)


def _tree_bytes(path: Path) -> int:
    if not path.is_dir():
        return path.stat().st_size
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files)


def checkpoint_bytes(checkpoint: Path) -> dict[str, int]:
    """Bytes a checkpoint holds: `weights`, `training_state` (the optimizer's, in the newest),
    `other` (configs, text tokenizer) and their `total`; `shared` is what its links point at (the
    run's one speech tokenizer), counted apart since every checkpoint of the run shares it."""
    sizes = {"weights": 0, "training_state": 0, "other": 0, "shared": 0}
    for item in checkpoint.iterdir():
        if item.is_symlink():
            sizes["shared"] += _tree_bytes(item.resolve())
        else:
            sizes[{WEIGHTS_FILE: "weights", STATE_FILE: "training_state"}.get(item.name, "other")] += _tree_bytes(item)
    sizes["total"] = sizes["weights"] + sizes["training_state"] + sizes["other"]
    return sizes


def load_training_state(checkpoint: Path) -> dict:
    return torch.load(checkpoint / STATE_FILE, map_location="cpu", weights_only=False)
