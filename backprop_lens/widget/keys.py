"""Where a map lives: the keys of the Explorer's ``maps`` trait and of its map cache.

A map of the input being explained is keyed ``"layer/target/method"``; the map of the clean
input at the same place, kept while the input is perturbed, gets the ``CLEAN`` prefix. The front
end (``js/widget.ts``) builds the same keys.
"""

#: The ``layer`` value that stands for the model's output (its logits).
OUTPUT = "output"

#: The prefix of the keys of maps of the clean input, kept beside those of a perturbed one.
CLEAN = "clean/"


def map_key(layer: str, target: int, method: str) -> str:
    """``"layer/target/method"``: the key of one map of the input being explained."""
    return f"{layer}/{target}/{method}"
