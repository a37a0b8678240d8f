"""Texts to token ids, fitted into windows of at most ``max_length`` tokens."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Document = list[list[int]]
"""A tokenized text: its chunks, each a list of token ids with special tokens."""

HEAD_SHARE = 0.25
"""Share of a head-and-tail window taken from the start of the text.

Sun et al. (2019), "How to Fine-Tune BERT for Text Classification?", kept
the first 128 and the last 382 tokens of 510.
"""


def tokenize(
    tokenizer: Any,
    texts: Sequence[str],
    max_length: int,
    long_text: str = "truncate",
    max_chunks: int = 1,
) -> list[Document]:
    """Tokenize without padding, fitting each text into ``max_length``-token windows.

    ``"truncate"`` keeps the first tokens; ``"head_tail"`` keeps the first
    quarter of the window from the start of the text and the rest from its
    end; ``"chunks"`` splits the text into consecutive windows, at most
    ``max_chunks`` of them. Every window carries the tokenizer's special tokens.
    """
    if long_text == "truncate":
        encoded = tokenizer(
            list(texts),
            truncation=True,
            max_length=max_length,
            padding=False,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        return [[list(ids)] for ids in encoded["input_ids"]]
    prefix, suffix = special_tokens(tokenizer)
    content = max_length - len(prefix) - len(suffix)
    if content < 1:
        raise ValueError(f"max_length={max_length} leaves no room for text between special tokens.")
    encoded = tokenizer(
        list(texts),
        add_special_tokens=False,
        truncation=False,
        padding=False,
        return_attention_mask=False,
        return_token_type_ids=False,
        verbose=False,
    )
    return [
        fit_windows(list(ids), long_text, content, prefix, suffix, max_chunks)
        for ids in encoded["input_ids"]
    ]


def fit_windows(
    ids: list[int],
    long_text: str,
    content: int,
    prefix: list[int],
    suffix: list[int],
    max_chunks: int,
) -> Document:
    """Fit a text's token ids (no special tokens) into windows of ``content`` tokens.

    ``"head_tail"`` gives one window, the first :data:`HEAD_SHARE` of it from
    the start of the text and the rest from its end; ``"chunks"`` gives
    consecutive windows, at most ``max_chunks``. Each window is wrapped in the
    tokenizer's special tokens ``prefix`` and ``suffix``.
    """
    if long_text == "head_tail":
        if len(ids) > content:
            head = max(1, round(HEAD_SHARE * content))
            ids = ids[:head] + ids[len(ids) - (content - head) :]
        windows = [ids]
    else:
        windows = [ids[i : i + content] for i in range(0, len(ids), content)][:max_chunks]
        windows = windows or [[]]
    return [prefix + window + suffix for window in windows]


def special_tokens(tokenizer: Any) -> tuple[list[int], list[int]]:
    """Return the ids the tokenizer puts before and after a text ([CLS] and [SEP] for BERT)."""
    probe = "text"
    plain = list(tokenizer(probe, add_special_tokens=False)["input_ids"])
    full = list(tokenizer(probe, add_special_tokens=True)["input_ids"])
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            return full[:start], full[start + len(plain) :]
    raise ValueError(  # pragma: no cover - no known tokenizer does this
        f"Cannot tell where {type(tokenizer).__name__} puts its special tokens."
    )
