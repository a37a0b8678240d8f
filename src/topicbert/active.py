"""Which texts to label next: the ones a model is least sure of.

Active learning reads a fitted model's probabilities and knows nothing of how
it was trained: a :class:`~topicbert.BertTopicClassifier` (any ``training``),
a zero-shot model from ``from_descriptions``, an ONNX export
(:class:`~topicbert.onnx.OnnxTopicClassifier`) or a scikit-learn pipeline.

>>> from topicbert.active import suggest
>>> positions = suggest(model, unlabelled_texts, 20)  # doctest: +SKIP
>>> to_label = [unlabelled_texts[i] for i in positions]  # doctest: +SKIP

Strategies (:data:`STRATEGIES`), each scoring how unsure the model is of a
text (higher: less sure):

- ``"margin"``: one minus the gap between the two most probable topics.
  Label sets: minus the distance of the label closest to its threshold.
- ``"entropy"``: the entropy of the topic probabilities. Label sets: the sum
  of each label's binary entropy.
- ``"least_confidence"``: one minus the top probability. Label sets: one
  minus the probability of the predicted set (labels independent).
- ``"random"``: a uniform draw, the baseline every strategy should beat.

With ``diversity=k`` the ``k * n`` least sure texts are grouped by k-means
in the encoder's space (the model's ``embed``) into ``n`` groups and the
least sure text of each group is suggested, so that a batch does not spend
several labels on near-copies of one text.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Iterable, Iterator
from typing import Any

import numpy as np

from topicbert._decision import DecisionRule, rule_of
from topicbert._validation import check_number, text_chunks

__all__ = ["STRATEGIES", "suggest", "uncertainty"]

STRATEGIES = ("margin", "entropy", "least_confidence", "random")
"""The values of ``strategy``."""

_EPS = 1e-12


def uncertainty(
    proba: np.ndarray, strategy: str = "margin", *, thresholds: np.ndarray | None = None
) -> np.ndarray:
    """Score how unsure a model is of each text: higher is less sure.

    Parameters
    ----------
    proba : ndarray of shape (n_texts, n_classes)
        Probabilities, as ``predict_proba`` returns them.
    strategy : {"margin", "entropy", "least_confidence"}, default="margin"
        The score (see the module's description).
    thresholds : ndarray of shape (n_classes,), optional
        Per-label thresholds of a multi-label model: each column of ``proba``
        is then an independent label probability. None: one topic per text
        (rows sum to 1).

    Returns
    -------
    scores : ndarray of shape (n_texts,)
    """
    if strategy not in STRATEGIES or strategy == "random":
        raise ValueError(
            f"strategy must be one of {STRATEGIES[:-1]!r} to score probabilities, got {strategy!r}."
        )
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] < 1:
        raise ValueError(f"proba must be 2-D (n_texts, n_classes), got shape {proba.shape}.")
    if thresholds is not None:
        return _label_set_uncertainty(proba, strategy, np.asarray(thresholds, np.float64))
    if strategy == "entropy":
        return np.asarray(-(proba * np.log(np.clip(proba, _EPS, 1.0))).sum(axis=1))
    top = -np.sort(-proba, axis=1)
    if strategy == "least_confidence":
        return np.asarray(1.0 - top[:, 0])
    second = top[:, 1] if proba.shape[1] > 1 else np.zeros(len(proba))
    return np.asarray(1.0 - (top[:, 0] - second))


def _label_set_uncertainty(proba: np.ndarray, strategy: str, thresholds: np.ndarray) -> np.ndarray:
    if thresholds.shape != (proba.shape[1],):
        raise ValueError(
            f"thresholds has shape {thresholds.shape}; give one per label ({proba.shape[1]})."
        )
    if strategy == "margin":
        return np.asarray(-np.abs(proba - thresholds).min(axis=1))
    if strategy == "entropy":
        p = np.clip(proba, _EPS, 1.0 - _EPS)
        return np.asarray(-(p * np.log(p) + (1.0 - p) * np.log(1.0 - p)).sum(axis=1))
    chosen = np.where(proba >= thresholds, proba, 1.0 - proba)
    return np.asarray(1.0 - np.exp(np.log(np.clip(chosen, _EPS, 1.0)).sum(axis=1)))


def suggest(
    model: Any,
    texts: Iterable[str],
    n: int,
    *,
    strategy: str = "margin",
    exclude: Collection[int] | None = None,
    diversity: int = 1,
    random_state: int | np.random.Generator | None = None,
    chunk_size: int = 1024,
) -> np.ndarray:
    """Return the positions of the ``n`` texts to label next, least sure first.

    The pool is read once, a chunk at a time, and only the ``diversity * n``
    best candidates are kept, so memory stays flat however large the pool
    (a generator or an open file will do).

    Parameters
    ----------
    model : fitted classifier
        Anything with ``predict_proba`` and ``classes_``: a
        ``BertTopicClassifier`` (trained or from ``from_descriptions``), an
        ``OnnxTopicClassifier``, a ``Pipeline``. Multi-label models are scored
        by the closeness of each label's probability to its threshold.
    texts : iterable of str
        The unlabelled pool.
    n : int
        How many texts to suggest.
    strategy : {"margin", "entropy", "least_confidence", "random"}, default="margin"
        How unsure the model is of a text (see the module's description).
    exclude : collection of int, optional
        Positions never to suggest (texts already labelled or skipped); they
        are not scored.
    diversity : int, default=1
        1: the ``n`` least sure texts. ``k > 1``: group the ``k * n`` least
        sure texts into ``n`` clusters (k-means on the model's ``embed``
        vectors, unit length) and take the least sure of each, so that
        suggestions are spread over the pool. Needs a model with ``embed``.
    random_state : int or numpy Generator, optional
        Seed of the ``"random"`` strategy, of ties broken at random, and of
        k-means.
    chunk_size : int, default=1024
        Texts scored at a time.

    Returns
    -------
    positions : ndarray of shape (n,)
        Positions in ``texts``, the least sure first.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        When ``model`` is not fitted.
    ValueError
        When ``n`` is not a positive integer or exceeds the texts not
        excluded, or when a setting is unknown.
    """
    for name, value in (("n", n), ("diversity", diversity), ("chunk_size", chunk_size)):
        check_number(name, value, int, 1, None, owner="suggest")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES!r}, got {strategy!r}.")
    rule = _fitted_rule(model)
    if diversity > 1 and not callable(getattr(model, "embed", None)):
        raise ValueError(
            f"diversity={diversity} groups texts by the model's embed() vectors; "
            f"{type(model).__name__} has no embed(). Use a BertTopicClassifier or diversity=1."
        )
    rng = np.random.default_rng(random_state)
    skip = frozenset(int(i) for i in exclude) if exclude is not None else frozenset()
    thresholds = rule.per_label_thresholds() if rule.multilabel else None
    keep = diversity * n

    # a min-heap of (score, tie, position, text): its root is the weakest candidate kept
    heap: list[tuple[float, float, int, str]] = []
    seen = 0
    for positions, chunk in _unexcluded_chunks(texts, skip, chunk_size):
        seen += len(chunk)
        if strategy == "random":
            scores = rng.random(len(chunk))
        else:
            scores = uncertainty(_proba(model, chunk), strategy, thresholds=thresholds)
        ties = rng.random(len(chunk))
        for item in zip(scores.tolist(), ties.tolist(), positions, chunk, strict=True):
            if len(heap) < keep:
                heapq.heappush(heap, item)
            elif item[:2] > heap[0][:2]:
                heapq.heapreplace(heap, item)
    if n > seen:
        raise ValueError(
            f"n={n} texts asked for, but the pool holds only {seen} texts"
            + (f" once {len(skip)} excluded positions are left out." if skip else ".")
        )
    ranked = sorted(heap, key=lambda item: item[:2], reverse=True)
    if diversity == 1 or len(ranked) == n:
        return np.array([position for _, _, position, _ in ranked[:n]], dtype=np.int64)
    return _spread(model, ranked, n, rng)


def _fitted_rule(model: Any) -> DecisionRule:
    """The model's decision rule, or a clear error when it cannot predict yet."""
    if not callable(getattr(model, "predict_proba", None)):
        raise TypeError(
            f"suggest needs a fitted classifier with predict_proba; got {type(model).__name__}."
        )
    from sklearn.base import BaseEstimator
    from sklearn.utils.validation import check_is_fitted

    if isinstance(model, BaseEstimator):
        check_is_fitted(model)
    return rule_of(model)


def _proba(model: Any, texts: list[str]) -> np.ndarray:
    return np.asarray(model.predict_proba(texts), dtype=np.float64)


def _unexcluded_chunks(
    texts: Iterable[str], skip: frozenset[int], chunk_size: int
) -> Iterator[tuple[list[int], list[str]]]:
    """Yield (positions, texts) of the pool in chunks, leaving excluded positions out."""
    start = 0
    for chunk in text_chunks(texts, chunk_size, owner="suggest"):
        kept = [(p, t) for p, t in enumerate(chunk, start) if p not in skip]
        start += len(chunk)
        if kept:
            yield [p for p, _ in kept], [t for _, t in kept]


def _spread(
    model: Any, ranked: list[tuple[float, float, int, str]], n: int, rng: np.random.Generator
) -> np.ndarray:
    """The least sure candidate of each of ``n`` k-means clusters, least sure first."""
    from sklearn.cluster import KMeans

    embed: Callable[[list[str]], np.ndarray] = model.embed
    vectors = np.asarray(embed([text for _, _, _, text in ranked]), dtype=np.float64)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), _EPS)
    seed = int(rng.integers(2**31 - 1))
    clusters = KMeans(n_clusters=n, n_init=1, random_state=seed).fit_predict(vectors)
    chosen: list[int] = []
    taken: set[int] = set()
    for index, cluster in enumerate(clusters):  # ranked is least sure first
        if int(cluster) not in taken:
            taken.add(int(cluster))
            chosen.append(index)
    if len(chosen) < n:  # fewer distinct clusters than n (identical vectors): fill by score
        chosen += [i for i in range(len(ranked)) if i not in set(chosen)][: n - len(chosen)]
    chosen.sort()
    return np.array([ranked[i][2] for i in chosen], dtype=np.int64)
