"""The fine-tuning loss, with each target aligned exactly once.

Talker: cross-entropy of the first codebook, each frame predicted from the position before it.
Sub-talker (code predictor): for frame j, the talker hidden state at the position *before* frame j
(the one that predicted its first codebook, as at inference), then the embeddings of codebooks
0..14 of frame j; its output k predicts codebook k+1. Upstream fed the hidden state of frame j's own
position (#337) and shifted these labels a second time inside `forward_finetune` (PR #278).

Each loss is a sum over targets divided by a count: by default the batch's own (its mean), in
training the whole optimizer step's, so micro-batches and processes of different lengths add up
to the step's mean over all its targets, however the step is split.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from tts_assets.qwen3.batch import IGNORE, SPEAKER_POSITION, Batch, TargetCounts


@dataclass
class Losses:
    total: torch.Tensor
    talker: torch.Tensor
    sub_talker: torch.Tensor


def input_embeddings(model, batch: Batch, speaker: torch.Tensor) -> torch.Tensor:
    """Text through `text_projection` (0.6B: 2048 → 1024; inference does this, upstream training
    did not: #120/#198), codec ids, the speaker embedding at its slot, and codebooks 1–15 of frames."""
    talker = model.talker
    text = talker.text_projection(talker.model.text_embedding(batch.text_ids)) * batch.text_mask
    codec = talker.model.codec_embedding(batch.codec_ids) * batch.codec_mask
    codec[:, SPEAKER_POSITION, :] = speaker
    embeddings = text + codec
    predictor_embeddings = talker.code_predictor.get_input_embeddings()
    frame = batch.frame_mask.unsqueeze(-1)
    for i in range(1, 16):
        embeddings = embeddings + predictor_embeddings[i - 1](batch.frame_codes[:, :, i]) * frame
    return embeddings


def sub_talker_inputs(model, hidden: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """[N, 16, H]: the predicting talker state, then codebooks 0..14 of the frame."""
    talker = model.talker
    parts = [hidden.unsqueeze(1), talker.get_input_embeddings()(codes[:, :1])]
    predictor_embeddings = talker.code_predictor.get_input_embeddings()
    parts += [predictor_embeddings[i - 1](codes[:, i : i + 1]) for i in range(1, 15)]
    return torch.cat(parts, dim=1)


def compute_losses(model, batch: Batch, speaker: torch.Tensor, sub_talker_weight: float,
                   per: TargetCounts | None = None) -> Losses:
    """The losses summed over the batch's targets and divided by `per` (None: the batch's own counts)."""
    talker = model.talker
    out = talker(
        inputs_embeds=input_embeddings(model, batch, speaker),
        attention_mask=batch.attention_mask,
        output_hidden_states=True,
    )
    logits = out.logits.float()
    talker_sum = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), batch.talker_targets.reshape(-1), ignore_index=IGNORE, reduction="sum"
    )
    hidden = out.hidden_states[0][-1]
    predicting = hidden[batch.predictor_positions[:, 0], batch.predictor_positions[:, 1]]
    predictor = talker.code_predictor.forward_finetune(
        inputs_embeds=sub_talker_inputs(model, predicting, batch.predictor_codes)
    )
    sub_logits = predictor.logits.float()  # [N, 15, V]: output k predicts codebook k + 1
    sub_targets = batch.predictor_codes[:, 1:].reshape(-1)
    sub_sum = F.cross_entropy(sub_logits.reshape(-1, sub_logits.shape[-1]), sub_targets, reduction="sum")
    per = per or TargetCounts(int((batch.talker_targets != IGNORE).sum()), len(sub_targets))
    talker_loss, sub_loss = talker_sum / per.talker, sub_sum / per.sub_talker
    return Losses(talker_loss + sub_talker_weight * sub_loss, talker_loss, sub_loss)
