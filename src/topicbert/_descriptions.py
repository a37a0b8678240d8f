"""Zero-shot models: a head made from descriptions of the labels instead of labelled texts.

Each label's description texts are encoded (pooled vectors scaled to unit
length), averaged and scaled to unit length again; the head's weights are
those vectors divided by a temperature, so that a text's logit for a label
is the cosine similarity of their vectors over the temperature. Softmax then
gives single-label probabilities; for label sets, each label's bias puts its
probability at 0.5 where the similarity equals ``similarity_threshold``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

    from topicbert._targets import Targets

DEFAULT_TEMPERATURE = 0.03
"""Cosine similarity per unit of logit: the lowest mean log-loss over BBC's validation
articles (against descriptions and against names) and Reuters training wires (against
names), ``benchmarks/select_zero_shot.py``."""
DEFAULT_SIMILARITY_THRESHOLD = 0.25
"""Multi-label: the similarity at which a label's probability is 0.5; the best micro-F1 on
Reuters training wires against the topics' names, ``benchmarks/select_zero_shot.py``."""

OWNER = "BertTopicClassifier.from_descriptions"
FIXED_PARAMS = ("labels", "descriptions", "normalize")
"""Parameters ``from_descriptions`` sets itself."""


def check_descriptions(descriptions: object) -> tuple[list[Any], list[list[str]]]:
    """The labels in the mapping's order and each one's description texts, checked.

    A label maps to one text or to a list of texts; the label's own name,
    written out, is a valid description. Empty texts and a text given twice
    (for one label or two) are errors.
    """
    if not isinstance(descriptions, Mapping):
        raise TypeError(
            f"{OWNER} needs a mapping from each label to its description (a text or a "
            f"list of texts), such as {{'sport': 'Sport news'}}; got "
            f"{type(descriptions).__name__}."
        )
    if len(descriptions) < 2:
        raise ValueError(
            f"{OWNER} needs descriptions of at least two labels; got {len(descriptions)}."
        )
    labels: list[Any] = []
    texts: list[list[str]] = []
    seen: dict[str, Any] = {}
    for label, value in descriptions.items():
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not items:
            raise TypeError(
                f"The description of label {label!r} must be a text or a non-empty list of "
                f"texts; got {value!r}."
            )
        for text in items:
            if not isinstance(text, str) or not text.strip():
                raise ValueError(
                    f"The description of label {label!r} holds {text!r}; every description "
                    "must be a non-empty text (the label's name will do)."
                )
            key = " ".join(text.split()).casefold()
            if key in seen:
                raise ValueError(
                    f"The description {text!r} is given for label {seen[key]!r}"
                    + (" twice" if seen[key] == label else f" and for label {label!r}")
                    + "; a description must tell its label apart, so give each once."
                )
            seen[key] = label
        labels.append(label)
        texts.append(list(items))
    return labels, texts


def set_description_head(
    classifier: torch.nn.Linear,
    vectors: np.ndarray,
    owners: np.ndarray,
    *,
    temperature: float,
    similarity_threshold: float | None,
) -> None:
    """Put each label's mean description vector, over ``temperature``, into ``classifier``.

    ``vectors`` are unit-length description vectors and ``owners`` the index
    of each one's label. ``similarity_threshold`` (label sets) sets the biases
    so that each label's probability is 0.5 at that similarity; ``None``
    leaves them at zero (softmax over labels).
    """
    import torch

    n_labels = classifier.weight.shape[0]
    centroids = np.zeros((n_labels, vectors.shape[1]), dtype=np.float64)
    np.add.at(centroids, owners, vectors.astype(np.float64))
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True).clip(min=1e-12)
    bias = np.full(n_labels, 0.0 if similarity_threshold is None else -similarity_threshold)
    with torch.no_grad():
        classifier.weight.copy_(torch.as_tensor(centroids / temperature))
        classifier.bias.copy_(torch.as_tensor(bias / temperature))


def description_examples(descriptions: object, targets: Targets) -> tuple[list[str], np.ndarray]:
    """The descriptions as training examples: their texts and targets in ``targets``' terms.

    Refuses a description of a label that the training labels lack.
    """
    labels, groups = check_descriptions(descriptions)
    index = {label: i for i, label in enumerate(targets.classes.tolist())}
    unknown = [label for label in labels if label not in index]
    if unknown:
        raise ValueError(
            f"descriptions= describes {', '.join(map(repr, unknown))}, which the training "
            f"labels lack (they are {targets.classes.tolist()!r}); describe only those labels, "
            "or list every label in labels=."
        )
    owners = np.repeat([index[label] for label in labels], [len(group) for group in groups])
    texts = [text for group in groups for text in group]
    if targets.multilabel:
        rows = np.zeros((len(owners), len(targets.classes)), dtype=targets.encoded.dtype)
        rows[np.arange(len(owners)), owners] = 1
    else:
        rows = owners.astype(targets.encoded.dtype)
    return texts, rows


def with_examples(
    targets: Targets, train_index: np.ndarray, rows: np.ndarray
) -> tuple[Targets, np.ndarray]:
    """``targets`` with ``rows`` appended, and their positions added to the training part."""
    n = len(targets.encoded)
    encoded = np.concatenate([targets.encoded, rows])
    return (
        dataclasses.replace(targets, encoded=encoded),
        np.concatenate([train_index, np.arange(n, n + len(rows))]),
    )
