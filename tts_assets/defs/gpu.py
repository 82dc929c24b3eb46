"""How a GPU step declares itself: the `gpu` pool (one at a time per card, dagster.yaml), a tag
for the UI, and the Kubernetes resource request dagster-k8s applies to its pod."""

GPU_POOL = "gpu"
GPU_TAGS = {"tts_assets/gpu": "true"}
GPU_OP_TAGS = {
    "dagster-k8s/config": {
        "container_config": {"resources": {"limits": {"nvidia.com/gpu": "1"}, "requests": {"nvidia.com/gpu": "1"}}},
    }
}
GPU = dict(pool=GPU_POOL, tags=GPU_TAGS, op_tags=GPU_OP_TAGS)
