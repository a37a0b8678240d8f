"""Interfaces and registries for plug-in authors.

A plug-in adds a *backbone* (a tokenizer plus an encoder) under a name, so that
``BertTopicClassifier(backbone="my-name")`` finds it. Register one in code with
:func:`register_backbone`, or from another package through the entry-point
group ``topicbert.backbones`` in that package's ``pyproject.toml``::

    [project.entry-points."topicbert.backbones"]
    my-name = "my_package.backbones:make_backbone"

The entry point names a zero-argument callable that returns an object
satisfying the :class:`Backbone` protocol.

An *explainer* is added the same way, with :func:`register_explainer` or the
entry-point group ``topicbert.explainers``; its factory returns an object
satisfying the :class:`Explainer` protocol, and
``topicbert.explain(model, text, method="my-name")`` uses it.

Callbacks observe training; subclass :class:`Callback` and override the hooks
you need.

This module imports neither torch nor transformers.
"""

from __future__ import annotations

import copy
import importlib
import warnings
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "BACKBONE_ENTRY_POINT_GROUP",
    "EXPLAINER_ENTRY_POINT_GROUP",
    "Backbone",
    "BackboneFactory",
    "Callback",
    "Explainer",
    "ExplainerFactory",
    "available_backbones",
    "available_explainers",
    "get_backbone_factory",
    "get_explainer_factory",
    "refresh",
    "register_backbone",
    "register_explainer",
]

BACKBONE_ENTRY_POINT_GROUP = "topicbert.backbones"
"""The entry-point group in which packages declare backbone factories."""
EXPLAINER_ENTRY_POINT_GROUP = "topicbert.explainers"
"""The entry-point group in which packages declare explainer factories."""


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


@runtime_checkable
class Explainer(Protocol):
    """What an explainer provides: word weights for some labels of one text.

    ``predict_proba`` maps a list of texts to an array of shape
    ``(n_texts, n_classes)``; ``labels`` are column indices to explain. The
    result maps each of those indices to ``(word, weight)`` pairs, most
    important first, where a positive weight supports the label.
    """

    def explain(
        self,
        predict_proba: Callable[[list[str]], Any],
        text: str,
        *,
        labels: list[int],
        num_features: int,
        num_samples: int,
        random_state: int | None,
    ) -> dict[int, list[tuple[str, float]]]:
        """Return word weights per explained label."""
        ...


ExplainerFactory = Callable[[], Explainer]
"""A zero-argument callable returning an :class:`Explainer`."""


class _Registry:
    """Plug-ins of one kind: built-ins, entry points and registered names."""

    def __init__(self, kind: str, group: str, builtins: dict[str, str]) -> None:
        self.kind = kind
        self.group = group
        self.builtins = builtins
        self.registered: dict[str, Any] = {}
        self._entry_points: Mapping[str, Any] | None = None

    def entry_points(self) -> Mapping[str, Any]:
        """The group's entry points, read once until :meth:`refresh`."""
        if self._entry_points is None:
            self._entry_points = {ep.name: ep for ep in entry_points(group=self.group)}
        return self._entry_points

    def refresh(self) -> None:
        self._entry_points = None

    def register(self, name: str, factory: Any) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"A {self.kind} name must be a non-empty str. Got {name!r} instead.")
        if not (callable(factory) or isinstance(factory, str)):
            raise TypeError(
                f"The factory for {self.kind} {name!r} must be a callable or a "
                f"'module:attribute' string. Got {type(factory).__name__} instead."
            )
        self.registered[name] = factory

    def names(self) -> list[str]:
        return sorted(set(self.builtins) | set(self.entry_points()) | set(self.registered))

    def get(self, name: str) -> Any:
        factory: Any = self.registered.get(name)
        if factory is None and name in self.entry_points():
            try:
                factory = self.entry_points()[name].load()
            except Exception as exc:  # a broken third-party plug-in must not crash us
                warnings.warn(
                    f"The {self.kind} plug-in {name!r} could not be loaded ({exc!r}); ignoring it.",
                    RuntimeWarning,
                    stacklevel=3,
                )
                factory = None
        if factory is None and name in self.builtins:
            factory = self.builtins[name]
        if isinstance(factory, str):
            factory = _import_object(factory)
        return factory


# Built-ins, as "module:attribute" strings so that nothing is imported until used.
_backbones = _Registry(
    "backbone",
    BACKBONE_ENTRY_POINT_GROUP,
    {"all-MiniLM-L6-v2": "topicbert._backbones:all_minilm_l6_v2"},
)
_explainers = _Registry(
    "explainer",
    EXPLAINER_ENTRY_POINT_GROUP,
    {
        "lime": "topicbert._explain:LimeExplainer",
        "occlusion": "topicbert._explain:OcclusionExplainer",
    },
)


def _import_object(spec: str) -> Any:
    module_name, _, attribute = spec.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attribute.split(".") if attribute else []:
        obj = getattr(obj, part)
    return obj


def refresh() -> None:
    """Forget cached entry points, e.g. after installing a plug-in package."""
    _backbones.refresh()
    _explainers.refresh()


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
    _backbones.register(name, factory)


def available_backbones() -> list[str]:
    """Return the sorted names of all known backbones.

    Built-in names, names from the ``topicbert.backbones`` entry-point group
    and names registered with :func:`register_backbone`.
    """
    return _backbones.names()


def get_backbone_factory(name: str) -> BackboneFactory | None:
    """Return the factory registered under ``name``, or ``None`` if there is none.

    Registered names win over entry points, which win over built-in names. A
    plug-in whose entry point fails to load is skipped with a warning rather
    than breaking every lookup.
    """
    factory: BackboneFactory | None = _backbones.get(name)
    return factory


def register_explainer(name: str, factory: ExplainerFactory | str) -> None:
    """Register an explainer under ``name`` for ``explain(..., method=name)``.

    Parameters
    ----------
    name : str
        The method name; takes precedence over built-ins and entry points.
    factory : callable or str
        A zero-argument callable returning an :class:`Explainer`, or a
        ``"module:attribute"`` string naming one.
    """
    _explainers.register(name, factory)


def available_explainers() -> list[str]:
    """Return the sorted names of all known explainers (``"lime"``, ``"occlusion"``, ...)."""
    return _explainers.names()


def get_explainer_factory(name: str) -> ExplainerFactory | None:
    """Return the explainer factory registered under ``name``, or ``None``."""
    factory: ExplainerFactory | None = _explainers.get(name)
    return factory


class Callback:
    """Base class for training callbacks; every hook does nothing by default.

    Pass instances as ``BertTopicClassifier(callbacks=[...])``. Hooks receive
    the estimator being fitted. When a fit fails or is interrupted,
    :meth:`on_train_error` is called instead of :meth:`on_train_end`.

    ``sklearn.base.clone`` (and so ``GridSearchCV`` and ``cross_val_score``)
    gives each clone of the estimator a copy of every callback made by
    :meth:`__sklearn_clone__`: by default a deep copy. Callbacks that hold
    live state (an open run, a connection) override it to return a fresh
    callback with the same settings.

    In a distributed fit only the first process calls the hooks (one set of
    progress bars, one tracked run), unless the class sets :attr:`every_rank`.
    """

    every_rank: ClassVar[bool] = False
    """True: every process of a distributed fit calls the hooks, the same
    number of times with the same (all-reduced) records; for hooks that each
    process must call, such as Ray Train's ``report``."""

    def on_train_begin(self, estimator: Any) -> None:
        """Call once before the first epoch."""

    def on_epoch_end(self, estimator: Any, record: dict[str, float]) -> None:
        """Call after each epoch with that epoch's entry of ``history_``."""

    def on_train_end(self, estimator: Any) -> None:
        """Call once after training, with the final weights in place."""

    def on_train_error(self, estimator: Any, error: BaseException) -> None:
        """Call once when training raises ``error`` (``KeyboardInterrupt`` included).

        The estimator is then put back as it was before ``fit``; the error is
        raised again after the hooks ran.
        """

    def __sklearn_clone__(self) -> Callback:
        """Return the copy that a clone of the estimator gets: a deep copy by default."""
        return copy.deepcopy(self)
