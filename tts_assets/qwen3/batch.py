"""Training examples and batches in the layout Qwen3-TTS inference uses (non-streaming custom voice).

Position layout of one example (L = text tokens incl. the 3 role tokens, T = frames):
  0..2        text: <|im_start|> assistant \\n
  3..6        text: tts_pad        codec: nothink, think_bos, think_eos, [speaker embedding at 6]
  7           text: tts_bos        codec: pad
  8..L+4      text: the text       codec: pad
  L+5         text: tts_eos        codec: pad
  L+6         text: tts_pad        codec: bos
  L+7+j       text: tts_pad        codec: frame j (all 16 codebooks summed into the input)
  L+7+T       text: tts_pad        codec: eos
Targets are placed at the position that predicts them: frame j's first codebook at L+6+j (the
position before it), eos at L+6+T. Labels are shifted exactly once, here; the loss does not shift.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

IGNORE = -100
SPEAKER_POSITION = 6


@dataclass
class Example:
    text_ids: torch.Tensor  # [L] role tokens + text, without the trailing chat tokens
    codes: torch.Tensor  # [T, 16]


@dataclass
class Batch:
    text_ids: torch.Tensor  # [B, S]
    codec_ids: torch.Tensor  # [B, S] codebook-0 channel (special ids and frames)
    text_mask: torch.Tensor  # [B, S, 1]
    codec_mask: torch.Tensor  # [B, S, 1] positions whose codec embedding is used (not the speaker slot)
    frame_codes: torch.Tensor  # [B, S, 16] codes of the frame input at each position (0 elsewhere)
    frame_mask: torch.Tensor  # [B, S] positions holding a frame
    attention_mask: torch.Tensor  # [B, S]
    talker_targets: torch.Tensor  # [B, S] first-codebook target predicted at each position, or IGNORE
    predictor_positions: torch.Tensor  # [N, 2] (batch, position) whose hidden state predicts frame n
    predictor_codes: torch.Tensor  # [N, 16] the codes of frame n

    def to(self, device) -> "Batch":
        return Batch(**{k: v.to(device) for k, v in self.__dict__.items()})


@dataclass(frozen=True)
class TargetCounts:
    """How many targets a loss is the mean over: first codebooks (frames and eos) and the 15 other
    codebooks of each frame."""

    talker: int
    sub_talker: int


def target_counts(examples: list[Example]) -> TargetCounts:
    """The targets of these examples, as `collate` places them."""
    frames = sum(len(e.codes) for e in examples)
    return TargetCounts(talker=frames + len(examples), sub_talker=frames * 15)


def collate(examples: list[Example], config) -> Batch:
    talker = config.talker_config
    lengths = [len(e.text_ids) + len(e.codes) + 8 for e in examples]
    size, width = len(examples), max(lengths)
    text_ids = torch.full((size, width), config.tts_pad_token_id, dtype=torch.long)
    codec_ids = torch.full((size, width), talker.codec_pad_id, dtype=torch.long)
    text_mask = torch.zeros((size, width), dtype=torch.bool)
    codec_mask = torch.zeros((size, width), dtype=torch.bool)
    frame_codes = torch.zeros((size, width, 16), dtype=torch.long)
    frame_mask = torch.zeros((size, width), dtype=torch.bool)
    attention_mask = torch.zeros((size, width), dtype=torch.long)
    talker_targets = torch.full((size, width), IGNORE, dtype=torch.long)
    positions, codes = [], []
    for b, example in enumerate(examples):
        n_text, n_frames = len(example.text_ids), len(example.codes)
        first_frame = n_text + 7
        text_ids[b, :3] = example.text_ids[:3]
        text_ids[b, 7] = config.tts_bos_token_id
        text_ids[b, 8 : n_text + 5] = example.text_ids[3:]
        text_ids[b, n_text + 5] = config.tts_eos_token_id
        text_mask[b, : lengths[b]] = True
        codec_ids[b, :3] = 0  # role positions carry no codec input (masked below)
        codec_ids[b, 3:6] = torch.tensor([talker.codec_nothink_id, talker.codec_think_bos_id, talker.codec_think_eos_id])
        codec_ids[b, n_text + 6] = talker.codec_bos_id
        codec_ids[b, first_frame : first_frame + n_frames] = example.codes[:, 0]
        codec_ids[b, first_frame + n_frames] = talker.codec_eos_token_id
        codec_mask[b, 3 : lengths[b]] = True
        codec_mask[b, SPEAKER_POSITION] = False
        frame_codes[b, first_frame : first_frame + n_frames] = example.codes
        frame_mask[b, first_frame : first_frame + n_frames] = True
        attention_mask[b, : lengths[b]] = 1
        # Shift once: the position before each frame (and before eos) predicts it.
        talker_targets[b, first_frame - 1 : first_frame - 1 + n_frames] = example.codes[:, 0]
        talker_targets[b, first_frame - 1 + n_frames] = talker.codec_eos_token_id
        for j in range(n_frames):
            positions.append((b, first_frame - 1 + j))
        codes.append(example.codes)
    return Batch(
        text_ids, codec_ids, text_mask.unsqueeze(-1), codec_mask.unsqueeze(-1), frame_codes, frame_mask,
        attention_mask, talker_targets, torch.tensor(positions, dtype=torch.long), torch.cat(codes).long(),
    )
