"""The in-memory cache of pooled vectors that frozen-backbone fits share."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

import numpy as np

DEFAULT_MAX_BYTES = 512 * 2**20
MAX_BYTES_VARIABLE = "TOPICBERT_EMBEDDING_CACHE_MB"

Key = tuple[str, bytes]


class EmbeddingCache:
    """Pooled vectors of frozen encoders, kept in memory across fits.

    With ``training="head"`` the encoder never changes, so each text's
    pooled vector is computed once per process and reused by refits,
    cross-validation folds and grid searches over the head. Keys name the
    encoder (its name and a fingerprint of its weights), the pooling and
    precision, and a digest of the document's token ids, so a vector is
    reused only where it would be computed again identically.

    The least recently used vectors are dropped once the cache holds more
    than ``max_bytes``. The process-wide instance is
    :data:`topicbert.embedding_cache`; its limit defaults to 512 MiB (about
    350,000 vectors of a 384-wide encoder) and can be set with the
    ``TOPICBERT_EMBEDDING_CACHE_MB`` environment variable or by assigning
    :attr:`max_bytes` (``0`` turns caching off).

    Parameters
    ----------
    max_bytes : int, default=512 MiB
        The most memory the vectors may take, in bytes.

    Examples
    --------
    >>> import topicbert
    >>> topicbert.embedding_cache.clear()
    >>> len(topicbert.embedding_cache), topicbert.embedding_cache.nbytes
    (0, 0)
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._vectors: OrderedDict[Key, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.max_bytes = max_bytes

    @property
    def max_bytes(self) -> int:
        """The size limit in bytes; lowering it drops vectors at once."""
        return self._max_bytes

    @max_bytes.setter
    def max_bytes(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise ValueError(f"max_bytes must be a whole number of bytes >= 0, got {value!r}.")
        with self._lock:
            self._max_bytes = int(value)
            self._evict()

    @property
    def nbytes(self) -> int:
        """The memory the cached vectors take, in bytes."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._vectors)

    def __repr__(self) -> str:
        return (
            f"EmbeddingCache({len(self)} vectors, {self._bytes / 2**20:.1f} MiB "
            f"of {self._max_bytes / 2**20:.1f} MiB)"
        )

    def clear(self) -> None:
        """Forget every vector and free their memory."""
        with self._lock:
            self._vectors.clear()
            self._bytes = 0

    def get(self, key: Key) -> np.ndarray | None:
        """Return the vector stored under ``key``, or None."""
        with self._lock:
            vector = self._vectors.get(key)
            if vector is not None:
                self._vectors.move_to_end(key)
            return vector

    def put(self, key: Key, vector: np.ndarray) -> None:
        """Store a vector (a copy), dropping the oldest beyond the limit."""
        with self._lock:
            if key in self._vectors or vector.nbytes > self._max_bytes:
                return
            self._vectors[key] = np.array(vector, copy=True)
            self._bytes += vector.nbytes
            self._evict()

    def _evict(self) -> None:
        while self._bytes > self._max_bytes and self._vectors:
            _, dropped = self._vectors.popitem(last=False)
            self._bytes -= dropped.nbytes


def _limit_from_environment() -> int:
    value = os.environ.get(MAX_BYTES_VARIABLE)
    if value is None or not value.strip():
        return DEFAULT_MAX_BYTES
    try:
        megabytes = float(value)
    except ValueError:
        raise ValueError(f"{MAX_BYTES_VARIABLE} must be a number of MiB, got {value!r}.") from None
    if megabytes < 0:
        raise ValueError(f"{MAX_BYTES_VARIABLE} must be >= 0, got {value!r}.")
    return int(megabytes * 2**20)


embedding_cache = EmbeddingCache(_limit_from_environment())
