"""Checkpoints that both serve and resume.

A checkpoint folder is the base model's folder with a `custom_voice` config (the voice as speaker,
embedding in codec row 3000, as upstream writes it) so `Qwen3TTSModel.from_pretrained(dir)` serves
it; unlike upstream it keeps the speaker encoder's weights (#204) and a `training_state.pt`
(optimizer, scheduler, step, epoch, RNG), so a killed run resumes. Written to a temporary folder
and renamed, so a checkpoint either exists whole or not at all.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file

SPEAKER_ROW = 3000
STATE_FILE = "training_state.pt"
WEIGHTS_FILE = "model.safetensors"


def _copy_base(base: Path, target: Path) -> None:
    for item in base.iterdir():
        if item.name in (WEIGHTS_FILE, "config.json", STATE_FILE) or item.name.startswith("."):
            continue
        if item.is_dir():
            shutil.copytree(item, target / item.name)
        else:
            shutil.copy2(item, target / item.name)


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
    half-pruned checkpoints and unfinished writes go."""
    for replaced in run_dir.glob(".checkpoint-*.replaced"):
        original = replaced.with_name(replaced.name[1 : -len(".replaced")])
        if original.exists():
            shutil.rmtree(replaced)
        else:
            replaced.rename(original)
    for leftover in [*run_dir.glob(".checkpoint-*.pruned"), *run_dir.glob(".checkpoint-*.tmp")]:
        shutil.rmtree(leftover, ignore_errors=True)


def checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    found = [p for p in run_dir.glob("checkpoint-*") if (p / STATE_FILE).is_file() and (p / WEIGHTS_FILE).is_file()]
    return sorted(found, key=lambda p: int(re.sub(r"\D", "", p.name) or 0))


def prune(run_dir: Path, keep: int, protect: Path | None = None) -> None:
    """Keep the newest `keep` checkpoints, and `protect` (the one promoted for serving)."""
    for old in checkpoints(run_dir)[:-keep] if keep > 0 else []:
        if protect is None or old.resolve() != protect.resolve():
            shutil.rmtree(_set_aside(old, "pruned"))


def load_training_state(checkpoint: Path) -> dict:
    return torch.load(checkpoint / STATE_FILE, map_location="cpu", weights_only=False)
