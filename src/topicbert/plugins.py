"""Interfaces and registries for plug-in authors.

A plug-in adds a *backbone* (a tokenizer plus an encoder) under a name, so that
``BertTopicClassifier(backbone="my-name")`` finds it. Register one in code with
:func:`register_backbone`, or from another package through the entry-point
group ``topicbert.backbones`` in that package's ``pyproject.toml``::

    [project.entry-points."topicbert.backbones"]
    my-name = "my_package.backbones:make_backbone"

The entry point names a zero-argument callable that returns an object
satisfying the :class:`Backbone` protocol.

Callbacks observe training; subclass :class:`Callback` and override the hooks
you need.

This module imports neither torch nor transformers.
"""

from __future__ import annotations

import functools
import importlib
import warnings
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "BACKBONE_ENTRY_POINT_GROUP",
    "Backbone",
    "BackboneFactory",
    "Callback",
    "available_backbones",
    "get_backbone_factory",
    "refresh",
    "register_backbone",
]

BACKBONE_ENTRY_POINT_GROUP = "topicbert.backbones"


@runtime_checkable
class Backbone(Protocol):
    """What a backbone provides: a tokenizer and an encoder.

    The tokenizer must be a Hugging Face tokenizer (fast or slow) that accepts
    ``tokenizer(texts, truncation=True, max_length=n)`` and has a
    ``pad_token_id``. The encoder must be a ``torch.nn.Module`` called as
    ``encoder(input_ids=..., attention_mask=...)`` that returns an object with a
    ``last_hidden_state`` of shape ``(batch, tokens, hidden)`` and has a
    ``config`` with ``hidden_size``. Encoders that are ``transformers``
    ``PreTrainedModel`` instances can be saved and reloaded.
    """

    @property
    def name(self) -> str:
        """A short name recorded with fitted models."""
        ...

    def load_tokenizer(self) -> Any:
        """Return a fresh tokenizer."""
        ...

    def load_encoder(self) -> nn.Module:
        """Return a freshly loaded encoder with its pre-trained weights."""
        ...


BackboneFactory = Callable[[], Backbone]
"""A zero-argument callable returning a :class:`Backbone`."""

# Built-in backbones, as "module:attribute" strings so that nothing is imported
# until a name is used.
_BUILTIN_BACKBONES: dict[str, str] = {
    "all-MiniLM-L6-v2": "topicbert._backbones:all_minilm_l6_v2",
}
_registered_backbones: dict[str, BackboneFactory | str] = {}


def register_backbone(name: str, factory: BackboneFactory | str) -> None:
    """Register a backbone under ``name``.

    Parameters
    ----------
    name : str
        The name users pass as ``BertTopicClassifier(backbone=name)``. It
        takes precedence over built-in names and entry points.
    factory : callable or str
        A zero-argument callable returning a :class:`Backbone`, or a
        ``"module:attribute"`` string naming one (imported on first use).

    Examples
    --------
    >>> from topicbert.plugins import register_backbone, available_backbones
    >>> from topicbert import PretrainedBackbone
    >>> register_backbone("my-bert", lambda: PretrainedBackbone("/models/my-bert"))
    >>> "my-bert" in available_backbones()
    True
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"A backbone name must be a non-empty str. Got {name!r} instead.")
    if not (callable(factory) or isinstance(factory, str)):
        raise TypeError(
            f"The factory for backbone {name!r} must be a callable or a 'module:attribute' "
            f"string. Got {type(factory).__name__} instead."
        )
    _registered_backbones[name] = factory
    refresh()


@functools.lru_cache(maxsize=1)
def _entry_point_backbones() -> Mapping[str, Any]:
    return {ep.name: ep for ep in entry_points(group=BACKBONE_ENTRY_POINT_GROUP)}


def refresh() -> None:
    """Forget cached entry points, e.g. after installing a plug-in package."""
    _entry_point_backbones.cache_clear()


def available_backbones() -> list[str]:
    """Return the sorted names of all known backbones.

    Built-in names, names from the ``topicbert.backbones`` entry-point group
    and names registered with :func:`register_backbone`.
    """
    names = set(_BUILTIN_BACKBONES) | set(_entry_point_backbones()) | set(_registered_backbones)
    return sorted(names)


def _import_object(spec: str) -> Any:
    module_name, _, attribute = spec.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attribute.split(".") if attribute else []:
        obj = getattr(obj, part)
    return obj


def get_backbone_factory(name: str) -> BackboneFactory | None:
    """Return the factory registered under ``name``, or ``None`` if there is none.

    Registered names win over entry points, which win over built-in names. A
    plug-in whose entry point fails to load is skipped with a warning rather
    than breaking every lookup.
    """
    factory: Any = _registered_backbones.get(name)
    if factory is None and name in _entry_point_backbones():
        try:
            factory = _entry_point_backbones()[name].load()
        except Exception as exc:  # a broken third-party plug-in must not crash us
            warnings.warn(
                f"The backbone plug-in {name!r} could not be loaded ({exc!r}); ignoring it.",
                RuntimeWarning,
                stacklevel=2,
            )
            factory = None
    if factory is None and name in _BUILTIN_BACKBONES:
        factory = _BUILTIN_BACKBONES[name]
    if isinstance(factory, str):
        factory = _import_object(factory)
    return factory  # type: ignore[no-any-return]


class Callback:
    """Base class for training callbacks; every hook does nothing by default.

    Pass instances as ``BertTopicClassifier(callbacks=[...])``. Hooks receive
    the estimator being fitted.
    """

    def on_train_begin(self, estimator: Any) -> None:
        """Call once before the first epoch."""

    def on_epoch_end(self, estimator: Any, record: dict[str, float]) -> None:
        """Call after each epoch with that epoch's entry of ``history_``."""

    def on_train_end(self, estimator: Any) -> None:
        """Call once after training, with the final weights in place."""
