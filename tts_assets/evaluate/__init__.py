"""Checkpoint evaluation: intelligibility (ASR word error rate), speaker similarity and duration
sanity of held-out sentences, a pass/fail verdict, and promotion of passing checkpoints.

Entry points: `tts_assets.evaluate.evaluate.evaluate_checkpoint` / `evaluate_and_record`,
settings in `tts_assets.evaluate.settings.EvaluationSettings`. (Nothing is imported here, so the
server can read promotion records without loading the evaluation's models.)
"""
