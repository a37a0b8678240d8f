"""Files shared by the model format and the ONNX runtime: JSON values and atomic writes.

Numpy and the standard library only, so that the torch-free runtime can use it.
Writing is atomic: everything is written into a hidden directory beside the
target, flushed to disk, and then swapped with the target in one rename, so a
failure or a kill at any point leaves either the old directory or the new one
at the path, never a mixture.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import math
import numbers
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from topicbert.exceptions import ModelSaveError


def library_version() -> str:
    """The installed topicbert version, or ``"unknown"`` in a bare source tree."""
    try:
        return version("topicbert")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


# ----------------------------------------------------------------- JSON values
def to_json_value(value: object, *, what: str) -> object:
    """Turn a parameter or label into a JSON value that :func:`from_json_value` restores.

    numpy scalars and arrays become plain numbers and lists; a tuple becomes
    ``{"tuple": [...]}`` so that it comes back as a tuple (a list label would
    not be hashable), and a mapping ``{"mapping": [[key, value], ...]}`` so
    that its keys keep their type and order. Anything else JSON cannot hold
    is a ``TypeError`` naming ``what``.
    """
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        if not math.isfinite(number):
            raise TypeError(f"{what} is {number!r}, which JSON cannot hold.")
        return number
    if isinstance(value, np.ndarray):
        return [to_json_value(item, what=what) for item in value.tolist()]
    if isinstance(value, tuple):
        return {"tuple": [to_json_value(item, what=what) for item in value]}
    if isinstance(value, list):
        return [to_json_value(item, what=what) for item in value]
    if isinstance(value, Mapping):  # keys of any JSON-able kind, in order
        return {
            "mapping": [
                [to_json_value(key, what=what), to_json_value(item, what=what)]
                for key, item in value.items()
            ]
        }
    raise TypeError(
        f"{what} holds a {type(value).__name__} ({value!r}); only str, int, float, bool, "
        "None and tuples or lists of them can be saved."
    )


def from_json_value(value: object) -> Any:
    """Invert :func:`to_json_value`."""
    if isinstance(value, dict):
        if set(value) == {"mapping"} and isinstance(value["mapping"], list):
            return {from_json_value(key): from_json_value(item) for key, item in value["mapping"]}
        if set(value) != {"tuple"} or not isinstance(value["tuple"], list):
            raise ValueError(f"unexpected object {value!r}")
        return tuple(from_json_value(item) for item in value["tuple"])
    if isinstance(value, list):
        return [from_json_value(item) for item in value]
    return value


# ------------------------------------------------------------- atomic writing
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2``); False where unsupported."""
    library = ctypes.util.find_library("c")
    if library is None:
        return False
    try:
        renameat2 = ctypes.CDLL(library, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    renameat2.argtypes += [ctypes.c_uint]
    result = renameat2(
        _AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE
    )
    if result == 0:
        return True
    error = ctypes.get_errno()
    if error in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: the file system cannot swap
        return False
    raise OSError(error, os.strerror(error), str(second))


def _sync_directory(directory: Path) -> None:
    """Flush the files of ``directory`` and the directory itself to disk."""
    for path in directory.iterdir():
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    sync_directory_entry(directory)


def write_file_atomically(path: Path, content: bytes) -> None:
    """Replace ``path`` by ``content`` in one step: readers see the old file or the new one.

    The content is written to a temporary file beside ``path``, flushed to
    disk and renamed over it, and the directory entry is flushed too, so that
    a crash at any moment leaves one whole version on disk.
    """
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    sync_directory_entry(path.parent)


def sync_directory_entry(directory: Path) -> None:
    """Flush a directory's entries (a file created or renamed in it) to disk."""
    with contextlib.suppress(OSError):  # directories cannot be opened on every platform
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def check_directory_target(target: Path, *, marker: str) -> None:
    """Refuse a ``target`` that saving would not replace: a file, or a folder of other files.

    Raises
    ------
    topicbert.exceptions.ModelSaveError
        When ``target`` is neither absent, nor an empty directory, nor a
        directory holding the ``marker`` file.
    """
    if target.exists() or target.is_symlink():
        if not target.is_dir():
            raise ModelSaveError(f"Cannot save a model to {str(target)!r}: it is not a directory.")
        if any(target.iterdir()) and not (target / marker).is_file():
            raise ModelSaveError(
                f"Cannot save a model to {str(target)!r}: the directory holds files that are "
                "not a topicbert model, and saving replaces the whole directory. Choose a new "
                "or empty directory."
            )


def write_directory_atomically(target: Path, write: Callable[[Path], None], *, marker: str) -> None:
    """Let ``write`` fill a fresh directory, then put it at ``target`` in one step.

    ``target`` must be absent, an empty directory or a directory holding the
    ``marker`` file (a topicbert model, whose files are all replaced). On any
    error, ``KeyboardInterrupt`` included, the staging directory is removed
    and ``target`` is left as it was; an ``OSError`` (a full disk, a read-only
    folder) becomes a :class:`~topicbert.exceptions.ModelSaveError`.
    """
    check_directory_target(target, marker=marker)
    staging: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.saving-", dir=target.parent))
        write(staging)
        _sync_directory(staging)
        if not target.exists():
            os.rename(staging, target)
            staging = None
        elif _exchange(staging, target):
            pass  # staging now holds the previous model, removed below
        else:
            previous = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.rename(target, previous / "model")
            try:
                os.rename(staging, target)
            except BaseException:
                os.rename(previous / "model", target)
                raise
            finally:
                shutil.rmtree(previous, ignore_errors=True)
            staging = None
        _sync_directory(target.parent)
    except OSError as exc:
        raise ModelSaveError(
            f"Could not save the model to {str(target)!r}: {exc.strerror or exc}. "
            "Whatever was there before is unchanged."
        ) from exc
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
