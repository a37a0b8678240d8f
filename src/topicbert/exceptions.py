"""Errors and warnings that topicbert raises for its users to catch.

Every error derives from :class:`TopicbertError`, and also from the built-in
exception that fits it (``ValueError`` for a model or backbone that cannot be
read, ``OSError`` for a model that cannot be written), so code that catches the
built-in exceptions keeps working.

>>> from topicbert.exceptions import ModelLoadError, TopicbertError
>>> issubclass(ModelLoadError, TopicbertError) and issubclass(ModelLoadError, ValueError)
True
"""

from __future__ import annotations

__all__ = [
    "BackboneError",
    "DeviceWarning",
    "ModelLoadError",
    "ModelSaveError",
    "TopicbertError",
]


class TopicbertError(Exception):
    """Base class of every error raised by topicbert itself."""


class ModelLoadError(TopicbertError, ValueError):
    """A directory does not hold a readable topicbert model.

    The message names the file that is missing, truncated or malformed.
    """


class ModelSaveError(TopicbertError, OSError):
    """A model could not be written (a full disk, a read-only folder, ...).

    Whatever was at the target path before the call is left as it was.
    """


class BackboneError(TopicbertError, ValueError):
    """A backbone could not be found or loaded."""


class DeviceWarning(UserWarning):
    """A model was put on another device than the one asked for or fitted on."""
