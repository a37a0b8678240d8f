"""Fingerprints of texts: which texts a model saw in training, without keeping the texts.

Each distinct text, its whitespace normalised (runs of spaces, tabs and line
breaks become one space; leading and trailing ones go), is reduced to a 64-bit
BLAKE2b hash. A model keeps the sorted hashes of its training texts, so that
scoring it on those texts again can be noticed. Numpy and the standard
library only.

>>> from topicbert._fingerprints import overlap, text_hashes
>>> hashes = text_hashes(["Shares fell.", "The team won."])
>>> overlap(hashes, ["Shares  fell.", "A new phone."])
1
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

__all__ = ["load_hashes", "overlap", "save_hashes", "text_hashes"]


def _normalise(text: object, position: int) -> str:
    """A text with its whitespace normalised; a clear error for anything but a string."""
    if not isinstance(text, str):
        raise TypeError(
            f"Texts must be strings; the text at position {position} is "
            f"{type(text).__name__} ({text!r})."
        )
    return " ".join(text.split())


def _hash(text: str) -> int:
    """The 64-bit BLAKE2b hash of a normalised text, the same on every machine."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _each_hash(texts: Iterable[str]) -> np.ndarray:
    """One hash per text, in order, duplicates kept."""
    values = [_hash(_normalise(text, i)) for i, text in enumerate(texts)]
    return np.fromiter(values, dtype=np.uint64, count=len(values))


def text_hashes(texts: Iterable[str]) -> np.ndarray:
    """The fingerprint of a set of texts: one hash per distinct text, sorted.

    Parameters
    ----------
    texts : iterable of str
        The texts. Texts that differ only in whitespace count as one.

    Returns
    -------
    hashes : ndarray of shape (n_distinct_texts,), dtype uint64
        The 64-bit BLAKE2b hash of each distinct normalised text, in
        ascending order.

    Raises
    ------
    TypeError
        When a text is not a string (the message names its position).
    """
    hashes: np.ndarray = np.unique(_each_hash(texts))
    return hashes


def _checked(hashes: object, where: str) -> np.ndarray:
    """``hashes`` as a sorted 1-D uint64 array, or a ``ValueError`` naming ``where``."""
    array = np.asarray(hashes)
    if array.ndim != 1 or array.dtype.kind != "u" or array.dtype.itemsize != 8:
        raise ValueError(
            f"{where} must be a 1-D array of uint64 text hashes; got an array of "
            f"shape {array.shape} and dtype {array.dtype}."
        )
    checked: np.ndarray = np.unique(array.astype(np.uint64, copy=False))
    return checked


def save_hashes(path: str | Path, hashes: np.ndarray) -> Path:
    """Write text hashes to a ``.npy`` file (no pickle).

    Parameters
    ----------
    path : str or path-like
        The file to write, used exactly as given (no suffix is added).
    hashes : ndarray of dtype uint64
        Hashes from :func:`text_hashes`.

    Returns
    -------
    path : pathlib.Path
        The file written.

    Raises
    ------
    ValueError
        When ``hashes`` is not a 1-D array of unsigned 64-bit integers.
    """
    array = _checked(hashes, "hashes")
    path = Path(path)
    with path.open("wb") as handle:
        np.save(handle, array, allow_pickle=False)
    return path


def load_hashes(path: str | Path) -> np.ndarray:
    """Read text hashes written by :func:`save_hashes`.

    Parameters
    ----------
    path : str or path-like
        A ``.npy`` file; it is read with ``allow_pickle=False``.

    Returns
    -------
    hashes : ndarray of shape (n_distinct_texts,), dtype uint64
        The hashes, sorted.

    Raises
    ------
    FileNotFoundError
        When there is no file at ``path``.
    ValueError
        When the file is not a ``.npy`` array of unsigned 64-bit integers.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"There is no file of text hashes at {str(path)!r}.")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise ValueError(f"{str(path)!r} is not a .npy file of text hashes: {exc}") from exc
    return _checked(array, f"The array in {str(path)!r}")


def overlap(hashes: np.ndarray, texts: Iterable[str]) -> int:
    """How many of ``texts`` are among the texts that ``hashes`` fingerprint.

    Parameters
    ----------
    hashes : ndarray of dtype uint64
        Hashes from :func:`text_hashes` (or :func:`load_hashes`).
    texts : iterable of str
        The texts to look up; a text given twice counts twice.

    Returns
    -------
    count : int
        The number of ``texts`` whose normalised form has one of ``hashes``.

    Raises
    ------
    TypeError
        When a text is not a string.
    ValueError
        When ``hashes`` is not a 1-D array of unsigned 64-bit integers.
    """
    known = _checked(hashes, "hashes")
    looked_up = _each_hash(texts)
    if not len(known) or not len(looked_up):
        return 0
    return int(np.isin(looked_up, known, assume_unique=False).sum())
