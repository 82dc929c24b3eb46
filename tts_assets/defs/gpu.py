"""How a GPU step declares itself: the `gpu` pool (how many GPU steps at once, dagster.yaml), a tag
for the UI, the Kubernetes resource request dagster-k8s applies to its pod, and `on_a_free_card`
(which card: one no other step of the machine holds)."""

import functools
import inspect

from tts_assets.gpu.cards import hold_a_card

GPU_POOL = "gpu"
GPU_TAGS = {"tts_assets/gpu": "true"}
GPU_OP_TAGS = {
    "dagster-k8s/config": {
        "container_config": {"resources": {"limits": {"nvidia.com/gpu": "1"}, "requests": {"nvidia.com/gpu": "1"}}},
    }
}
GPU = dict(pool=GPU_POOL, tags=GPU_TAGS, op_tags=GPU_OP_TAGS)


def on_a_free_card(step):
    """Run a GPU step's function on a card of its own (`tts_assets.gpu.cards.hold_a_card`). Dagster
    reads the step's parameters through the wrapper (`functools.wraps`), but not whether it yields,
    so a generator is refused here rather than run without being iterated."""
    if inspect.isgeneratorfunction(step) or inspect.iscoroutinefunction(step) or inspect.isasyncgenfunction(step):
        raise TypeError(f"{step.__name__}: on_a_free_card takes a function that returns its result")
    if next(iter(inspect.signature(step).parameters), None) != "context":
        raise TypeError(f"{step.__name__}: a GPU step takes `context` first (the card is logged to it)")

    @functools.wraps(step)
    def on_a_card(context, *args, **kwargs):
        card = hold_a_card()
        if card is not None:
            context.log.info(f"on GPU {card}")
        return step(context, *args, **kwargs)

    return on_a_card
