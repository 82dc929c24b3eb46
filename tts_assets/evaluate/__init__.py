"""Checkpoint evaluation: intelligibility (ASR word error rate), speaker similarity and duration
sanity of held-out sentences, a pass/fail verdict, and promotion of passing checkpoints.

Entry points: `tts_assets.evaluate.evaluate.evaluate_checkpoint` / `evaluate_and_record`,
settings in `tts_assets.settings.EvaluationSettings`; promotion records are `tts_assets.models`'.
(Nothing is imported here: a module of the package loads no evaluation model.)
"""
