"""Input checks shared by the estimators: clear errors before any work starts.

The option sets and defaults of the estimator's enumerated parameters are
defined here once; the estimator, the engine and the command line read them
from here.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np

POOLINGS = ("mean", "cls", "pooler")
"""``pooling``: masked mean of the token vectors, the [CLS] vector, the encoder's pooler."""
LONG_TEXT_STRATEGIES = ("truncate", "head_tail", "chunks")
"""``long_text``: what to do with texts longer than ``max_length`` tokens."""
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
"""``precision``: the autocast precision."""
TRAININGS = ("auto", "full", "contrastive", "head")
"""``training``: how the encoder is trained (by the data, fine-tuned, tuned on pairs, kept)."""
HEAD_INITS = ("auto", "random", "probe")
"""``head_init``: how the linear head starts before fine-tuning."""
CLASS_WEIGHTS = (None, "balanced")
"""``class_weight``: no weighting, or weights inversely proportional to class frequencies."""
DEFAULT_MAX_LENGTH = 256
"""Tokens per window, the default of the estimator and of the dataset summary."""


def check_number(
    name: str,
    value: object,
    kind: type,
    low: float | None,
    high: float | None,
    *,
    closed: str = "both",
    allow_none: bool = False,
    owner: str = "BertTopicClassifier",
) -> None:
    """Raise scikit-learn-style errors for a numeric parameter outside its range.

    ``kind`` is ``int`` or ``float`` (which accepts ints); booleans are never
    numbers here. A wrong type is a ``TypeError``, a value out of
    ``[low, high]`` (ends open or closed as ``closed`` says) a ``ValueError``.
    """
    if value is None and allow_none:
        return
    is_int = isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
    ok_type = (
        is_int
        if kind is int
        else isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    )
    left = "[" if closed in ("both", "left") else "("
    right = "]" if closed in ("both", "right") else ")"
    bounds = f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"
    kind_name = "an int" if kind is int else "a float"
    message = (
        f"The {name!r} parameter of {owner} must be {kind_name} in the range "
        f"{bounds}{' or None' if allow_none else ''}. Got {value!r} instead."
    )
    if not ok_type:
        raise TypeError(message) if not isinstance(value, numbers.Real) else ValueError(message)
    number = float(value)  # type: ignore[arg-type]
    if math.isnan(number):
        raise ValueError(message)
    if low is not None and (number < low or (number == low and left == "(")):
        raise ValueError(message)
    if high is not None and (number > high or (number == high and right == ")")):
        raise ValueError(message)


def check_option(
    name: str, value: object, options: Sequence[object], *, owner: str = "BertTopicClassifier"
) -> None:
    """Raise a ``ValueError`` unless ``value`` is one of ``options`` (compared by type too)."""
    if not any(type(value) is type(option) and value == option for option in options):
        choices = ", ".join(repr(o) for o in options)
        raise ValueError(
            f"The {name!r} parameter of {owner} must be one of {choices}. Got {value!r} instead."
        )


def check_bool(name: str, value: object, *, owner: str = "BertTopicClassifier") -> None:
    """Raise a ``TypeError`` unless ``value`` is ``True`` or ``False`` (not 0, 1 or a string)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"The {name!r} parameter of {owner} must be True or False. Got "
            f"{type(value).__name__} ({value!r}) instead."
        )


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and value != value:  # NaN
        return True
    return type(value).__name__ in ("NAType", "NaTType")


def text_chunks(X: Iterable[str], chunk_size: int, *, owner: str) -> Iterator[list[str]]:
    """Read a stream of texts lazily in lists of ``chunk_size``, naming the first bad entry."""
    if isinstance(X, (str, bytes)):
        raise ValueError(f"{owner} expects an iterable of texts, got a single string.")
    check_number("chunk_size", chunk_size, int, 1, None)
    chunk: list[str] = []
    for position, text in enumerate(X):
        if not isinstance(text, str):
            raise TypeError(
                f"X must contain only str; position {position} holds "
                f"{type(text).__name__} ({text!r})."
            )
        chunk.append(text)
        if len(chunk) == chunk_size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def check_texts(
    X: object, *, owner: str, name: str = "X", fill_missing: str | None = None
) -> list[str]:
    """Return ``X`` as a list of ``str``, or raise naming the first bad entry.

    Accepts a list, tuple, 1-D numpy array, pandas Series or any other
    iterable of strings. A bare string is rejected: it would otherwise be read
    as a sequence of one-character documents. Missing values (``None``, NaN)
    are replaced by ``fill_missing`` when it is given and rejected otherwise.
    """
    if isinstance(X, (str, bytes)):
        raise ValueError(
            f"{owner} expects an iterable of documents for {name}, got a single "
            f"{type(X).__name__}. Wrap it in a list: [{name}]."
        )
    ndim = getattr(X, "ndim", 1)
    if ndim != 1:
        shape = getattr(X, "shape", None)
        raise ValueError(
            f"{owner} expects a 1-D sequence of documents for {name}; got an array of shape "
            f"{shape}. Pass one text per sample, e.g. a list or a pandas Series."
        )
    if not isinstance(X, Iterable):
        raise TypeError(f"{owner} expects an iterable of str for {name}; got {type(X).__name__}.")
    values = X.tolist() if isinstance(X, np.ndarray) else list(X)
    texts: list[str] = []
    for position, value in enumerate(values):
        if isinstance(value, str):
            texts.append(value)
        elif _is_missing(value):
            if fill_missing is None:
                raise ValueError(
                    f"{name} contains a missing value ({value!r}) at position {position}. "
                    "Drop or fill missing texts before passing them to "
                    f"{owner}."
                )
            texts.append(fill_missing)
        else:
            raise TypeError(
                f"{name} must contain only str; position {position} holds "
                f"{type(value).__name__} ({value!r})."
            )
    return texts


def check_label_values(y: object, n_samples: int, *, owner: str) -> np.ndarray:
    """Return ``y`` as a 1-D array of hashable labels of length ``n_samples``."""
    if y is None:
        raise ValueError(f"{owner} requires y, the label of each text; got None.")
    if isinstance(y, (str, bytes)):
        raise ValueError(f"{owner} expects one label per text for y, got a single string.")
    if not isinstance(y, Iterable) or getattr(y, "ndim", 1) == 0:
        raise TypeError(
            f"{owner} expects one label per text for y (a list, array or Series); "
            f"got {type(y).__name__}."
        )
    values: list[Any] = y.tolist() if isinstance(y, np.ndarray) else list(y)
    if len(values) != n_samples:
        raise ValueError(
            f"X and y have different lengths: {n_samples} texts but {len(values)} labels."
        )
    for position, value in enumerate(values):
        if _is_missing(value):
            raise ValueError(f"y contains a missing label ({value!r}) at position {position}.")
        try:
            hash(value)
        except TypeError:
            raise TypeError(
                f"Labels must be hashable; y holds {type(value).__name__} at position {position}."
            ) from None
    return label_array(values)


def label_array(values: list[Any]) -> np.ndarray:
    """Make a 1-D numpy array of labels without changing their type.

    All-string and all-numeric labels give a typed array; anything else (mixed
    types, tuples) an object array, so that ``1`` never turns into ``"1"``.
    """
    if all(isinstance(v, str) for v in values) or all(
        isinstance(v, numbers.Number) for v in values
    ):
        array = np.asarray(values)
        if array.ndim == 1:
            return array
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def check_classifier_params(params: Mapping[str, Any]) -> None:
    """Check every parameter of ``BertTopicClassifier`` (its ``get_params()``)."""
    p = SimpleNamespace(**params)
    check_number("max_length", p.max_length, int, 2, None)
    check_number("batch_size", p.batch_size, int, 1, None)
    check_number("epochs", p.epochs, int, 1, None)
    check_number("learning_rate", p.learning_rate, float, 0, None, closed="right")
    check_number("weight_decay", p.weight_decay, float, 0, None)
    check_number("warmup_ratio", p.warmup_ratio, float, 0, 1)
    check_number("dropout", p.dropout, float, 0, 1, closed="left")
    check_number(
        "attention_dropout", p.attention_dropout, float, 0, 1, closed="left", allow_none=True
    )
    check_number("max_grad_norm", p.max_grad_norm, float, 0, None, closed="right", allow_none=True)
    check_number("accumulation_steps", p.accumulation_steps, int, 1, None)
    check_number("validation_fraction", p.validation_fraction, float, 0, 1, closed="neither")
    check_number("n_iter_no_change", p.n_iter_no_change, int, 1, None)
    if not isinstance(p.verbose, bool):  # verbose=True/False reads naturally
        check_number("verbose", p.verbose, int, 0, None)
    check_number("max_chunks", p.max_chunks, int, 1, None)
    check_option("pooling", p.pooling, POOLINGS)
    check_option("long_text", p.long_text, LONG_TEXT_STRATEGIES)
    check_option("class_weight", p.class_weight, CLASS_WEIGHTS)
    check_option("head_init", p.head_init, HEAD_INITS)
    check_option("precision", p.precision, PRECISIONS)
    check_bool("freeze_backbone", p.freeze_backbone)
    check_option("training", p.training, TRAININGS)
    check_bool("normalize", p.normalize)
    if p.freeze_backbone and p.training not in ("auto", "full"):
        raise ValueError(
            f"freeze_backbone=True and training={p.training!r} disagree; freeze_backbone "
            "is the older spelling of training='head': set training alone."
        )
    check_number("contrastive_iterations", p.contrastive_iterations, int, 1, None)
    check_number(
        "contrastive_learning_rate", p.contrastive_learning_rate, float, 0, None, closed="right"
    )
    if not isinstance(p.multilabel, bool) and not (
        isinstance(p.multilabel, str) and p.multilabel == "auto"
    ):
        raise ValueError(
            "The 'multilabel' parameter of BertTopicClassifier must be 'auto', True or "
            f"False. Got {p.multilabel!r} instead."
        )
    if not (isinstance(p.threshold, str) and p.threshold == "tune"):
        check_number("threshold", p.threshold, float, 0, 1, closed="neither")
    if isinstance(p.min_labels, bool) or p.min_labels not in (0, 1):
        raise ValueError(
            "The 'min_labels' parameter of BertTopicClassifier must be 0 or 1. "
            f"Got {p.min_labels!r} instead."
        )
    check_number("min_confidence", p.min_confidence, float, 0, 1, allow_none=True)
    try:
        hash(p.abstain_label)
    except TypeError:
        raise TypeError(
            "The 'abstain_label' parameter of BertTopicClassifier must be hashable, like a "
            f"label. Got {type(p.abstain_label).__name__} instead."
        ) from None
    check_bool("early_stopping", p.early_stopping)
    if not isinstance(p.device, str):
        raise TypeError(
            "The 'device' parameter of BertTopicClassifier must be a str such as 'auto', "
            f"'cpu' or 'cuda:0'. Got {type(p.device).__name__} instead."
        )
    callbacks: object = p.callbacks
    if callbacks is not None and (
        isinstance(callbacks, (str, bytes)) or not isinstance(callbacks, Sequence)
    ):
        raise TypeError(
            "The 'callbacks' parameter of BertTopicClassifier must be a list of callbacks "
            f"or None. Got {type(callbacks).__name__} instead."
        )
