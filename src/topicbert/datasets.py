"""Read labelled text corpora, remove duplicates and split them for training.

>>> from topicbert.datasets import read_labeled_csv, drop_duplicate_texts
>>> from topicbert.datasets import train_val_test_split
>>> data = drop_duplicate_texts(read_labeled_csv("bbc-news.csv"))  # doctest: +SKIP
>>> train, val, test = train_val_test_split(data, random_state=42)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "LABEL_COLUMNS",
    "TEXT_COLUMNS",
    "drop_duplicate_texts",
    "read_labeled_csv",
    "train_val_test_split",
]

TEXT_COLUMNS = ("text", "content", "article", "body", "document", "sentence")
LABEL_COLUMNS = ("category", "label", "topic", "class", "labels", "target")


def _detect(columns: list[str], candidates: tuple[str, ...], what: str, path: Path) -> str:
    lowered = {column.lower(): column for column in columns}
    for candidate in candidates:
        if candidate in lowered:
            return lowered[candidate]
    raise ValueError(
        f"Cannot tell which column of {str(path)!r} holds the {what}: it has columns "
        f"{columns!r}, none named {' / '.join(candidates)}. Pass "
        f"{'text_column' if what == 'texts' else 'label_column'}=... to name it."
    )


def read_labeled_csv(
    path: str | Path,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
) -> pd.DataFrame:
    """Read a CSV file of labelled texts.

    Reads the BBC layout (``id,category,text``), the common ``category,text``
    layout and any file whose columns are named in ``TEXT_COLUMNS`` and
    ``LABEL_COLUMNS``; other names can be given explicitly.

    Parameters
    ----------
    path : str or path-like
        The CSV file (UTF-8).
    text_column, label_column : str, optional
        The columns holding the texts and the labels; detected when omitted.

    Returns
    -------
    data : pandas.DataFrame
        Columns ``text`` and ``label``, one row per document, in file order.
        Rows whose text or label is missing are kept, so that the caller sees them.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"There is no file at {str(path)!r}.")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    columns = [str(c) for c in frame.columns]
    for given, what in ((text_column, "text_column"), (label_column, "label_column")):
        if given is not None and given not in columns:
            raise ValueError(f"{what}={given!r} is not a column of {str(path)!r}: {columns!r}.")
    text = text_column or _detect(columns, TEXT_COLUMNS, "texts", path)
    label = label_column or _detect(columns, LABEL_COLUMNS, "labels", path)
    if text == label:
        raise ValueError(f"The text and label columns are both {text!r}; name two columns.")
    result: pd.DataFrame = pd.DataFrame({"text": frame[text], "label": frame[label]})
    return result


def drop_duplicate_texts(data: pd.DataFrame) -> pd.DataFrame:
    """Keep the first of each group of identical texts.

    A split made before de-duplication puts copies of test documents into the
    training data (the BBC corpus has 98 such copies) and overstates accuracy.

    Parameters
    ----------
    data : pandas.DataFrame
        A frame with a ``text`` column.

    Returns
    -------
    data : pandas.DataFrame
        The frame without repeated texts, index reset.
    """
    unique: pd.DataFrame = data.drop_duplicates(subset="text", keep="first")
    reset: pd.DataFrame = unique.reset_index(drop=True)
    return reset


def train_val_test_split(
    data: pd.DataFrame,
    *,
    val_size: float = 0.1,
    test_size: float = 0.2,
    random_state: int | None = None,
    stratify: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Split a labelled frame into training, validation and test parts.

    Parameters
    ----------
    data : pandas.DataFrame
        A frame with ``text`` and ``label`` columns.
    val_size, test_size : float, default=0.1 and 0.2
        Shares of the whole frame; ``val_size`` may be 0.
    random_state : int, optional
        Seed of the shuffles.
    stratify : bool, default=True
        Keep the label proportions in every part.

    Returns
    -------
    train, val, test : pandas.DataFrame
        The three parts, each with a fresh index.
    """
    from sklearn.model_selection import train_test_split

    if not 0 < test_size < 1 or not 0 <= val_size < 1 or val_size + test_size >= 1:
        raise ValueError(
            "val_size and test_size must be shares in [0, 1) that add up to less than 1; "
            f"got val_size={val_size}, test_size={test_size}."
        )
    labels = data["label"] if stratify else None
    rest, test = train_test_split(
        data, test_size=test_size, random_state=random_state, stratify=labels
    )
    if val_size == 0:
        return rest.reset_index(drop=True), data.iloc[:0].copy(), test.reset_index(drop=True)
    train, val = train_test_split(
        rest,
        test_size=val_size / (1 - test_size),
        random_state=random_state,
        stratify=rest["label"] if stratify else None,
    )
    return train.reset_index(drop=True), val.reset_index(drop=True), test.reset_index(drop=True)
