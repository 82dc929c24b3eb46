"""What training, evaluation and serving share about the trained voices under `<data root>/models/`:
the engines (Qwen3-TTS, XTTS-v2) behind one interface, the promoted checkpoint (`latest.json`),
the record of the data a model was trained on, and the paths of all of these."""
