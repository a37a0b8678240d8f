"""A topicbert backbone plug-in: all-MiniLM-L6-v2 cut down to its first three layers.

Half the transformer layers, so about half the encoder's computation per
token. Installed, the package registers the name ``minilm-l3``:

>>> from topicbert import BertTopicClassifier
>>> BertTopicClassifier(backbone="minilm-l3")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from topicbert.plugins import get_backbone_factory

LAYERS = 3


class MiniLML3:
    """A backbone: any object with ``name``, ``load_tokenizer()`` and ``load_encoder()``.

    The entry point names the class; topicbert calls it with no arguments.
    """

    name = "minilm-l3"

    def __init__(self) -> None:
        factory = get_backbone_factory("all-MiniLM-L6-v2")  # topicbert's built-in default
        if factory is None:  # pragma: no cover - the name is built in
            raise LookupError("topicbert has no backbone named 'all-MiniLM-L6-v2'")
        self._base = factory()

    def load_tokenizer(self) -> Any:
        return self._base.load_tokenizer()

    def load_encoder(self) -> Any:
        encoder = self._base.load_encoder()
        encoder.encoder.layer = encoder.encoder.layer[:LAYERS]
        encoder.config.num_hidden_layers = LAYERS  # so that a saved model reloads
        return encoder
