"""Input checks shared by the estimators: clear errors before any work starts."""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and value != value:  # NaN
        return True
    return type(value).__name__ in ("NAType", "NaTType")


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
    values: list[Any] = y.tolist() if isinstance(y, np.ndarray) else list(y)  # type: ignore[call-overload]
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
