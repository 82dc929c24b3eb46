"""GPUs: the CUDA libraries of the nvidia-* wheels made findable (`libraries`), and one card per step
(`cards`)."""
