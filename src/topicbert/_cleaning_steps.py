"""The cleaning steps as one function of a text, with the standard library only.

:class:`topicbert.TextCleaner` (a scikit-learn transformer) and the ONNX
runtime (which has neither scikit-learn nor torch) both clean with
:func:`make_cleaner`, so that a saved or exported model cleans its input
exactly as it was cleaned for training. nltk is imported only for
``stopwords="nltk"`` and stemming; scikit-learn only for ``stopwords="sklearn"``.
"""

from __future__ import annotations

import html
import re
import string
import sys
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from types import SimpleNamespace
from typing import Any

__all__ = ["make_cleaner", "nltk_stopwords", "stopword_set"]

_SCRIPT_OR_STYLE = re.compile(
    r"<(script|style)\b[^>]*>.*?(?:</\1\s*>|\Z)", flags=re.IGNORECASE | re.DOTALL
)
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", flags=re.DOTALL)
_TAG = re.compile(r"</?[A-Za-z][^<>]*>|<![^<>]*>")
_WHITESPACE = re.compile(r"\s+")
_ASCII_PUNCTUATION = str.maketrans({c: " " for c in string.punctuation})


@lru_cache(maxsize=1)
def _unicode_punctuation_table() -> dict[int, str]:
    return {
        code: " "
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code)).startswith(("P", "S"))
    }


def nltk_stopwords(language: str = "english") -> frozenset[str]:
    """Return nltk's stopword list for ``language``.

    Raises
    ------
    LookupError
        When nltk's ``stopwords`` corpus is not installed, with the command
        that installs it.
    """
    try:
        from nltk.corpus import stopwords
    except ImportError as exc:  # pragma: no cover - nltk is a dependency
        raise ImportError("stopwords='nltk' needs nltk: pip install nltk") from exc
    try:
        return frozenset(stopwords.words(language))
    except LookupError:
        raise LookupError(
            f"nltk's stopword list for {language!r} is not installed. Install it with "
            "`python -m nltk.downloader stopwords` (or copy the corpus into a directory "
            "on NLTK_DATA), or use stopwords='sklearn', your own list, or None."
        ) from None
    except OSError:
        raise ValueError(f"nltk has no stopword list for language={language!r}.") from None


def stopword_set(stopwords: object, language: str) -> frozenset[str] | None:
    if stopwords is None:
        return None
    if isinstance(stopwords, str):  # compared only as a str: an array's == is elementwise
        if stopwords == "nltk":
            return nltk_stopwords(language)
        if stopwords == "sklearn":
            if language != "english":
                raise ValueError(
                    "stopwords='sklearn' is English only; use 'nltk' for other languages."
                )
            from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

            return frozenset(ENGLISH_STOP_WORDS)
        raise ValueError(
            "The 'stopwords' parameter of TextCleaner must be 'nltk', 'sklearn', an iterable "
            f"of words or None. Got {stopwords!r} instead."
        )
    if not isinstance(stopwords, Iterable) or isinstance(stopwords, bytes | bytearray):
        raise TypeError(
            "The 'stopwords' parameter of TextCleaner must be 'nltk', 'sklearn', an iterable "
            f"of words or None. Got {type(stopwords).__name__} instead."
        )
    if getattr(stopwords, "ndim", 1) != 1:
        raise ValueError(
            "The 'stopwords' parameter of TextCleaner must be a flat collection of words; got "
            f"an array of shape {getattr(stopwords, 'shape', None)}."
        )
    words = list(stopwords)
    for word in words:
        if not isinstance(word, str):
            raise TypeError(
                "Every stopword must be a str; the 'stopwords' parameter of TextCleaner holds "
                f"{type(word).__name__} ({word!r})."
            )
    return frozenset(word.lower() for word in words)


def _stemmer(name: str | None, language: str) -> Callable[[str], str] | None:
    if name is None:
        return None
    if name == "porter":
        from nltk.stem import PorterStemmer

        stem: Callable[[str], str] = PorterStemmer().stem
    elif name == "snowball":
        from nltk.stem import SnowballStemmer

        if language not in SnowballStemmer.languages:
            raise ValueError(
                f"The Snowball stemmer has no rules for language={language!r}; "
                f"choose one of {', '.join(SnowballStemmer.languages)}."
            )
        stem = SnowballStemmer(language).stem
    else:
        raise ValueError(
            "The 'stemmer' parameter of TextCleaner must be 'porter', 'snowball' or None. "
            f"Got {name!r} instead."
        )
    return lru_cache(maxsize=100_000)(stem)


CLEANER_DEFAULTS: dict[str, Any] = {
    "strip_html": True,
    "normalize_unicode": True,
    "lowercase": False,
    "remove_punctuation": False,
    "stopwords": None,
    "language": "english",
    "stemmer": None,
    "collapse_whitespace": True,
    "fill_missing": None,
}
"""TextCleaner's parameters and their defaults."""


def make_cleaner(params: Mapping[str, Any]) -> Callable[[str], str]:
    """Validate :class:`~topicbert.TextCleaner`'s parameters and compose its steps.

    ``params`` holds the parameters by name (``TextCleaner().get_params()``);
    each missing one takes its default.
    """
    unknown = sorted(set(params) - set(CLEANER_DEFAULTS))
    if unknown:
        raise ValueError(f"TextCleaner has no parameter {', '.join(map(repr, unknown))}.")
    p = SimpleNamespace(**{**CLEANER_DEFAULTS, **params})
    for name in ("strip_html", "normalize_unicode", "lowercase", "collapse_whitespace"):
        if not isinstance(getattr(p, name), bool):
            raise TypeError(
                f"The {name!r} parameter of TextCleaner must be a bool. "
                f"Got {getattr(p, name)!r} instead."
            )
    punctuation_option = p.remove_punctuation
    if not isinstance(punctuation_option, bool) and not (
        isinstance(punctuation_option, str) and punctuation_option == "unicode"
    ):
        raise ValueError(
            "The 'remove_punctuation' parameter of TextCleaner must be True, False or "
            f"'unicode'. Got {p.remove_punctuation!r} instead."
        )
    if p.fill_missing is not None and not isinstance(p.fill_missing, str):
        raise TypeError(
            "The 'fill_missing' parameter of TextCleaner must be a str or None. "
            f"Got {type(p.fill_missing).__name__} instead."
        )
    if not isinstance(p.language, str):
        raise TypeError("The 'language' parameter of TextCleaner must be a str.")
    stop = stopword_set(p.stopwords, p.language)
    stem = _stemmer(p.stemmer, p.language)
    punctuation: dict[int, str] | None = None
    if p.remove_punctuation == "unicode":
        punctuation = _unicode_punctuation_table()
    elif p.remove_punctuation:
        punctuation = _ASCII_PUNCTUATION
    strip_html = p.strip_html
    normalize = p.normalize_unicode
    lowercase = p.lowercase
    collapse = p.collapse_whitespace
    strip_chars = string.punctuation + "\u2018\u2019\u201c\u201d"

    def clean(text: str) -> str:
        if strip_html and ("<" in text or "&" in text):
            text = _SCRIPT_OR_STYLE.sub(" ", text)
            text = _COMMENT.sub(" ", text)
            text = _TAG.sub(" ", text)
            text = html.unescape(text)
        if normalize:
            text = unicodedata.normalize("NFKC", text)
        if lowercase:
            text = text.lower()
        if punctuation is not None:
            text = text.translate(punctuation)
        if stop is not None or stem is not None:
            words = text.split()
            if stop is not None:
                words = [w for w in words if w.strip(strip_chars).lower() not in stop]
            if stem is not None:
                words = [stem(w) for w in words]
            text = " ".join(words)
        if collapse:
            text = _WHITESPACE.sub(" ", text).strip()
        return text

    return clean
