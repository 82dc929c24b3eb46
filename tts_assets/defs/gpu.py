"""How a GPU step declares itself: the `gpu` pool (how many GPU steps at once, dagster.yaml), a tag
for the UI, the Kubernetes resource request dagster-k8s applies to its pod, and `on_a_free_card`
(which card: one no other step of the machine holds) or `on_free_cards` (as many as its settings
ask for, all at once)."""

import functools
import inspect

from tts_assets.defs.failures import step_failure
from tts_assets.errors import TtsAssetsError
from tts_assets.gpu.cards import hold_cards

GPU_POOL = "gpu"
GPU_TAGS = {"tts_assets/gpu": "true"}


def gpu_op_tags(cards: int) -> dict:
    """The step's pod asks Kubernetes for `cards` GPUs (fixed when the definitions load)."""
    count = {"nvidia.com/gpu": str(cards)}
    return {"dagster-k8s/config": {"container_config": {"resources": {"limits": count, "requests": count}}}}


def gpu_step(cards: int = 1) -> dict:
    """The asset or check arguments of a GPU step on `cards` cards."""
    return dict(pool=GPU_POOL, tags=GPU_TAGS, op_tags=gpu_op_tags(cards))


GPU_OP_TAGS = gpu_op_tags(1)
GPU = gpu_step(1)


def on_a_free_card(step):
    """Run a GPU step's function on a card of its own (`tts_assets.gpu.cards.hold_a_card`). Dagster
    reads the step's parameters through the wrapper (`functools.wraps`), but not whether it yields,
    so a generator is refused here rather than run without being iterated."""
    return _on_cards(step, lambda **_: 1)


def on_free_cards(count_for):
    """`on_a_free_card` for a step on `count_for(**its config and resources)` cards, taken together."""
    return functools.partial(_on_cards, count_for=count_for)


def _on_cards(step, count_for):
    if inspect.isgeneratorfunction(step) or inspect.iscoroutinefunction(step) or inspect.isasyncgenfunction(step):
        raise TypeError(f"{step.__name__}: on_a_free_card takes a function that returns its result")
    if next(iter(inspect.signature(step).parameters), None) != "context":
        raise TypeError(f"{step.__name__}: a GPU step takes `context` first (the card is logged to it)")

    @functools.wraps(step)
    def on_a_card(context, *args, **kwargs):
        try:
            cards = hold_cards(count_for(**kwargs))
        except TtsAssetsError as error:
            raise step_failure(error) from None
        if cards:
            context.log.info(f"on GPU {', '.join(cards)}" if len(cards) == 1 else f"on GPUs {', '.join(cards)}")
        return step(context, *args, **kwargs)

    return on_a_card
