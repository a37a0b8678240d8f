"""Read labelled text corpora, remove duplicates and split them for training.

>>> from topicbert.datasets import read_labeled_csv, drop_duplicate_texts
>>> from topicbert.datasets import train_val_test_split
>>> data = drop_duplicate_texts(read_labeled_csv("bbc-news.csv"))  # doctest: +SKIP
>>> train, val, test = train_val_test_split(data, random_state=42)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from topicbert._validation import DEFAULT_MAX_LENGTH

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = [
    "BBC_ARCHIVE_URL",
    "BBC_LABEL_COUNTS",
    "LABEL_COLUMNS",
    "TEXT_COLUMNS",
    "DatasetSummary",
    "describe_dataset",
    "detect_column",
    "drop_duplicate_texts",
    "guess_label_separator",
    "is_multilabel_frame",
    "load_bbc",
    "read_descriptions",
    "read_labeled_csv",
    "train_val_test_split",
]

BBC_ARCHIVE_URL = "http://mlg.ucd.ie/files/datasets/bbc-fulltext.zip"
"""Where :func:`load_bbc` downloads the corpus from by default (the original archive)."""
BBC_LABEL_COUNTS = {
    "business": 510,
    "entertainment": 386,
    "politics": 417,
    "sport": 511,
    "tech": 401,
}
"""Articles per topic in the published corpus; :func:`load_bbc` checks a download against them."""
_BBC_FILE = re.compile(r"(?:^|/)(business|entertainment|politics|sport|tech)/(\d+)\.txt$")

TEXT_COLUMNS = ("text", "content", "article", "body", "document", "sentence")
"""Column names :func:`read_labeled_csv` recognises as holding the texts, by preference."""
LABEL_COLUMNS = ("category", "label", "topic", "class", "labels", "topics", "target")
"""Column names :func:`read_labeled_csv` recognises as holding the labels, by preference."""
LIKELY_LABEL_SEPARATORS = ("|", ";", ",")
"""Separators :func:`read_labeled_csv` looks for in a label column read without one."""
_LABEL_LIKE = re.compile(r"\w[\w .&'+/-]{0,49}")


def detect_column(
    columns: list[str], candidates: tuple[str, ...], what: str, source: str | Path
) -> str:
    """Return the first of ``columns`` named like one of ``candidates`` (case-insensitive).

    Parameters
    ----------
    columns : list of str
        The file's column names.
    candidates : tuple of str
        Lower-case names to look for, by preference (e.g. :data:`TEXT_COLUMNS`).
    what : {"texts", "labels"}
        What the column holds, for the error message.
    source : str or path-like
        The file, for the error message.

    Returns
    -------
    column : str
        The column's name as the file spells it.

    Raises
    ------
    ValueError
        When no column has one of the names.
    """
    lowered = {column.lower(): column for column in columns}
    for candidate in candidates:
        if candidate in lowered:
            return lowered[candidate]
    raise ValueError(
        f"Cannot tell which column of {str(source)!r} holds the {what}: it has columns "
        f"{columns!r}, none named {' / '.join(candidates)}. Pass "
        f"{'text_column' if what == 'texts' else 'label_column'}=... to name it."
    )


def read_descriptions(path: str | Path) -> dict[str, Any]:
    """Read a description of each label from a JSON or CSV file.

    The result is what :meth:`BertTopicClassifier.from_descriptions
    <topicbert.BertTopicClassifier.from_descriptions>` and its
    ``descriptions`` parameter take.

    Parameters
    ----------
    path : str or path-like
        A ``.json`` file holding one object that maps each label to a text
        or a list of texts, or a CSV file (``.csv`` or ``.csv.gz``) with the
        columns ``label`` and ``description``, one row per description
        (several rows may share a label).

    Returns
    -------
    descriptions : dict
        Each label, in the file's order, to its description(s).
    """
    import csv
    import json

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No descriptions file at {str(path)!r}.")
    if path.suffix == ".json":
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{str(path)!r} is not valid JSON: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ValueError(
                f"{str(path)!r} must hold a JSON object mapping each label to its "
                'description, such as {"sport": "Sport news"}.'
            )
        return loaded
    with _open_text(path) as handle:
        reader = csv.DictReader(handle)
        missing = {"label", "description"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(
                f"{str(path)!r} needs the columns 'label' and 'description'; "
                f"{', '.join(sorted(missing))} missing (columns: {reader.fieldnames})."
            )
        descriptions: dict[str, list[str]] = {}
        for line, row in enumerate(reader, start=2):
            if not row["label"]:
                raise ValueError(f"{str(path)!r}, line {line}: the label is empty.")
            descriptions.setdefault(row["label"], []).append(row["description"] or "")
    return descriptions


def _open_text(path: Path) -> Any:
    """Open a text file for reading, gzip-compressed when named ``*.gz``."""
    import gzip

    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def read_labeled_csv(
    path: str | Path,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    label_separator: str | None = None,
) -> pd.DataFrame:
    """Read a CSV file of labelled texts, one label or a set of labels per text.

    Reads the BBC layout (``id,category,text``), the common ``category,text``
    layout and any file whose columns are named in ``TEXT_COLUMNS`` and
    ``LABEL_COLUMNS``; other names can be given explicitly.

    Parameters
    ----------
    path : str or path-like
        The CSV file (UTF-8), plain or compressed as its name says
        (``.csv.gz``, ``.csv.bz2``, ``.csv.zip``, ...).
    text_column, label_column : str, optional
        The columns holding the texts and the labels; detected when omitted.
    label_separator : str, optional
        Multi-label files: the separator between a text's labels (such as
        ``"|"`` in ``grain|wheat|trade``). Each ``label`` is then a tuple of
        labels in file order (an empty tuple for an empty cell), which
        ``BertTopicClassifier.fit`` reads as label sets. Without it, a label
        column whose values look like label sets (such as ``grain|wheat``
        beside ``grain``) gives a ``UserWarning`` that names the separator.

    Returns
    -------
    data : pandas.DataFrame
        Columns ``text`` and ``label``, one row per document, in file order.
        Rows whose text or label is missing are kept, so that the caller sees them.

    Examples
    --------
    >>> from topicbert.datasets import read_labeled_csv
    >>> data = read_labeled_csv("reuters.csv", label_separator="|")  # doctest: +SKIP
    >>> data["label"][0]  # doctest: +SKIP
    ('grain', 'wheat', 'trade')
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
    text = text_column or detect_column(columns, TEXT_COLUMNS, "texts", path)
    label = label_column or detect_column(columns, LABEL_COLUMNS, "labels", path)
    if text == label:
        raise ValueError(f"The text and label columns are both {text!r}; name two columns.")
    labels = frame[label]
    if label_separator is not None:
        if not isinstance(label_separator, str) or not label_separator:
            raise ValueError(
                f"label_separator must be a non-empty string; got {label_separator!r}."
            )
        separator = label_separator

        def split_labels(cell: object) -> tuple[str, ...]:
            parts = ("" if not isinstance(cell, str) else cell).split(separator)
            return tuple(dict.fromkeys(part.strip() for part in parts if part.strip()))

        labels = labels.map(split_labels)
    else:
        guess = guess_label_separator(labels)
        if guess is not None:
            separator, rows, example = guess
            warnings.warn(
                f"The label column {label!r} of {str(path)!r} looks like it holds sets of "
                f"labels separated by {separator!r} ({rows} of {labels.notna().sum()} rows, "
                f"such as {example!r}), but no label separator was given, so each value is "
                f"read as one label. Pass label_separator={separator!r} (on the command line: "
                f"--label-separator {separator!r}) to read label sets.",
                UserWarning,
                stacklevel=2,
            )
    result: pd.DataFrame = pd.DataFrame({"text": frame[text], "label": labels})
    return result


def guess_label_separator(
    labels: pd.Series | list[Any], *, min_share: float = 0.05
) -> tuple[str, int, str] | None:
    """The separator a column of labels seems to join label sets with, if any.

    A separator is taken for one when at least ``min_share`` of the values
    (and two distinct ones) split at it into two or more label-like parts
    (short runs of words), and some part turns up in more than one distinct
    value, as ``grain`` does in ``grain|wheat`` and ``grain|corn``. A single
    label that happens to hold a comma, such as ``Arts, Culture``, is not
    taken for a set.

    Parameters
    ----------
    labels : pandas.Series or list
        The label column as read (missing values are skipped).
    min_share : float, default=0.05
        The share of values that must split.

    Returns
    -------
    guess : tuple of (str, int, str) or None
        The separator (one of :data:`LIKELY_LABEL_SEPARATORS`), how many
        values it splits and one of them, or ``None`` when the values look
        like single labels.
    """
    values = [value for value in labels if isinstance(value, str) and value.strip()]
    if not values:
        return None
    distinct = set(values)
    best: tuple[str, int, str] | None = None
    for separator in LIKELY_LABEL_SEPARATORS:
        split: dict[str, list[str]] = {}
        for value in distinct:
            if separator not in value:
                continue
            parts = [part.strip() for part in value.split(separator)]
            if len(parts) >= 2 and all(_LABEL_LIKE.fullmatch(part) for part in parts):
                split[value] = parts
        if len(split) < 2:
            continue
        rows = sum(value in split for value in values)
        if rows < min_share * len(values):
            continue
        seen_in: dict[str, set[str]] = {}
        for value in distinct:
            for part in split.get(value, [value.strip()]):
                seen_in.setdefault(part, set()).add(value)
        if not any(len(owners) > 1 for owners in seen_in.values()):
            continue
        if best is None or rows > best[1]:
            example = next(value for value in values if value in split)
            best = (separator, rows, example)
    return best


def is_multilabel_frame(data: pd.DataFrame) -> bool:
    """Whether a frame's ``label`` column holds label sets (tuples) rather than labels."""
    return bool(len(data)) and all(isinstance(value, tuple) for value in data["label"])


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
        Keep the label proportions in every part (for label sets, each
        label's share, by iterative stratification).

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

    def split(frame: pd.DataFrame, size: float) -> tuple[pd.DataFrame, pd.DataFrame]:
        if stratify and is_multilabel_frame(frame):
            return _multilabel_split(frame, size, random_state)
        kept, held = train_test_split(
            frame,
            test_size=size,
            random_state=random_state,
            stratify=frame["label"] if stratify else None,
        )
        return kept, held

    rest, test = split(data, test_size)
    if val_size == 0:
        return rest.reset_index(drop=True), data.iloc[:0].copy(), test.reset_index(drop=True)
    train, val = split(rest, val_size / (1 - test_size))
    return train.reset_index(drop=True), val.reset_index(drop=True), test.reset_index(drop=True)


def _multilabel_split(
    frame: pd.DataFrame, size: float, random_state: int | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split label-set rows so that each label's share is kept in both parts.

    Iterative stratification (Sechidis et al., 2011), from the
    ``iterative-stratification`` package.
    """
    import numpy as np
    from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit
    from sklearn.preprocessing import MultiLabelBinarizer

    indicator = MultiLabelBinarizer().fit_transform(frame["label"])
    splitter = MultilabelStratifiedShuffleSplit(
        n_splits=1, test_size=size, random_state=random_state
    )
    kept, held = next(splitter.split(np.zeros(len(frame)), indicator))
    return frame.iloc[np.sort(kept)], frame.iloc[np.sort(held)]


def _default_cache_dir() -> Path:
    configured = os.environ.get("TOPICBERT_DATA")
    if configured:
        return Path(configured).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "topicbert"


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _bbc_archive_to_frame(content: bytes) -> pd.DataFrame:
    """Turn the raw ``bbc-fulltext`` archive (``bbc/<topic>/<nnn>.txt``) into rows."""
    import pandas as pd

    rows = []
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            for name in sorted(archive.namelist()):
                match = _BBC_FILE.search(name)
                if match is None:
                    continue
                text = archive.read(name).decode("latin-1").strip()
                rows.append((f"{match[1]}/{match[2]}", match[1], text))
    except zipfile.BadZipFile as exc:
        raise ValueError(f"The downloaded BBC archive is not a valid zip file: {exc}") from exc
    if not rows:
        raise ValueError("The downloaded archive holds no BBC articles (bbc/<topic>/<nnn>.txt).")
    frame: pd.DataFrame = pd.DataFrame(rows, columns=["id", "category", "text"])
    return frame


def load_bbc(
    path: str | Path | None = None,
    *,
    cache_dir: str | Path | None = None,
    url: str = BBC_ARCHIVE_URL,
    sha256: str | None = None,
    timeout: float = 60.0,
) -> pd.DataFrame:
    """Load the BBC News topic corpus (2,225 articles, 5 topics).

    Where the corpus is found, in this order:

    1. ``path``, when given: a local copy, plain or gzip-compressed. A clone
       of the topicbert repository carries one as ``data/bbc-news.csv.gz``
       (with its source, terms and checksum in ``data/README.md``); pass it
       here on machines without internet.
    2. ``bbc-news.csv`` in ``cache_dir`` (``$TOPICBERT_DATA`` or
       ``~/.cache/topicbert`` by default), left there by an earlier download.
    3. A download of the public corpus from ``url``, cached as above
       (columns ``id,category,text``).

    Integrity: a download is checked against ``sha256`` when given; its digest
    is stored beside the cached copy and checked on every later read, so a
    corrupted cache is noticed; a corpus from the default ``url`` must have the
    published 2,225 articles with 510/386/417/511/401 per topic. The corpus's
    publisher serves it over plain HTTP only and publishes no checksum, so a
    download over ``http://`` without ``sha256`` warns (``UserWarning``): pin
    the digest of a copy you trust, or pass ``path``.

    Parameters
    ----------
    path : str or path-like, optional
        A local copy, in the BBC layout or the ``category,text`` layout.
    cache_dir : str or path-like, optional
        Where the download is cached; by default ``$TOPICBERT_DATA`` or
        ``~/.cache/topicbert``.
    url : str, default=BBC_ARCHIVE_URL
        The raw ``bbc-fulltext`` zip archive, or a CSV file in one of the
        layouts ``read_labeled_csv`` reads (``http(s)://`` or ``file://``).
    sha256 : str, optional
        Expected SHA-256 of the downloaded file.
    timeout : float, default=60
        Seconds to wait for the server.

    Returns
    -------
    data : pandas.DataFrame
        Columns ``text`` and ``label``, as from :func:`read_labeled_csv`.

    Raises
    ------
    ConnectionError
        When the corpus has to be downloaded and the server cannot be reached.
    ValueError
        When the download fails its checksum or is not the expected corpus.
    """
    if path is not None:
        return read_labeled_csv(path)
    directory = Path(cache_dir).expanduser() if cache_dir is not None else _default_cache_dir()
    cached = directory / "bbc-news.csv"
    digest_file = directory / "bbc-news.csv.sha256"
    if cached.is_file():
        recorded = digest_file.read_text("utf-8").split()[0] if digest_file.is_file() else None
        if recorded is not None and recorded != _sha256(cached.read_bytes()):
            raise ValueError(
                f"The cached BBC corpus {str(cached)!r} does not match the checksum recorded "
                "when it was downloaded; delete it to download it again."
            )
        return read_labeled_csv(cached)

    if sha256 is None and url.lower().startswith("http://"):
        warnings.warn(
            f"Downloading {url} over plain HTTP without a checksum: what arrives cannot be "
            "told from a tampered copy (only the articles per topic are checked for the "
            "default address, which has no HTTPS form). Pass sha256=... to check the "
            "download, or use a local copy with load_bbc(path=...); a clone of topicbert "
            "has one in data/bbc-news.csv.gz.",
            UserWarning,
            stacklevel=2,
        )
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            content: bytes = response.read()
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConnectionError(
            f"Could not download the BBC corpus from {url} ({reason}). This machine may have "
            "no network access: download it elsewhere and pass load_bbc(path=...), or copy "
            f"bbc-news.csv into {str(directory)!r}."
        ) from exc
    if sha256 is not None and _sha256(content) != sha256.lower():
        raise ValueError(
            f"The file downloaded from {url} has SHA-256 {_sha256(content)}, not the expected "
            f"{sha256}; it was not cached."
        )
    if content[:4] == b"PK\x03\x04":
        frame = _bbc_archive_to_frame(content)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            downloaded = Path(tmp) / "download.csv"
            downloaded.write_bytes(content)
            frame = read_labeled_csv(downloaded).rename(columns={"label": "category"})
            frame = frame[["category", "text"]]
    if url == BBC_ARCHIVE_URL:
        counts = frame["category"].value_counts().to_dict()
        if counts != BBC_LABEL_COUNTS:
            raise ValueError(
                f"The corpus downloaded from {url} is not the published BBC corpus: articles "
                f"per topic {counts}, expected {BBC_LABEL_COUNTS}."
            )
    directory.mkdir(parents=True, exist_ok=True)
    frame.to_csv(cached, index=False)
    digest_file.write_text(f"{_sha256(cached.read_bytes())}  bbc-news.csv\n", encoding="utf-8")
    return read_labeled_csv(cached)


@dataclass
class DatasetSummary:
    """What a labelled dataset looks like before training; see :func:`describe_dataset`.

    Attributes
    ----------
    n_rows : int
        Number of rows.
    missing : dict
        Missing values per column.
    label_counts : dict
        Rows per label, most frequent first (for label sets, the texts that
        carry each label).
    labels_per_text : dict
        For label sets: how many texts carry 0, 1, 2, ... labels (label
        cardinality); empty for single labels.
    word_lengths : list of int
        Words per text (texts that are present).
    token_lengths : list of int or None
        Tokens per text, special tokens included, when a tokenizer was given.
    max_length : int
        The token budget compared with ``token_lengths``.
    n_duplicates : int
        Texts that repeat an earlier text.
    """

    n_rows: int
    missing: dict[str, int]
    label_counts: dict[Any, int]
    word_lengths: list[int]
    token_lengths: list[int] | None
    max_length: int
    n_duplicates: int
    labels_per_text: dict[int, int] = field(default_factory=dict)
    _tokenizer_name: str = field(default="", repr=False)

    @property
    def n_over_max_length(self) -> int | None:
        """Texts longer than ``max_length`` tokens (``None`` without a tokenizer)."""
        if self.token_lengths is None:
            return None
        return sum(length > self.max_length for length in self.token_lengths)

    def __str__(self) -> str:
        import numpy as np

        lines = [f"{self.n_rows} rows, {self.n_duplicates} duplicate texts"]
        lines.append("missing values: " + ", ".join(f"{k}={v}" for k, v in self.missing.items()))
        if self.labels_per_text:
            texts = sum(self.labels_per_text.values())
            mean = sum(k * v for k, v in self.labels_per_text.items()) / max(1, texts)
            spread = ", ".join(f"{k}: {v}" for k, v in self.labels_per_text.items())
            lines.append(f"labels per text: mean {mean:.2f} ({spread})")
        lines.append("label counts:" if not self.labels_per_text else "texts per label:")
        width = max((len(str(label)) for label in self.label_counts), default=5)
        for label, count in self.label_counts.items():
            lines.append(f"  {label!s:<{width}}  {count:>6}  {count / self.n_rows:6.1%}")

        def stats(name: str, values: list[int]) -> str:
            array = np.asarray(values)
            return (
                f"{name}: min {array.min()}, median {np.median(array):.0f}, "
                f"mean {array.mean():.0f}, max {array.max()}"
            )

        if self.word_lengths:
            lines.append(stats("words per text", self.word_lengths))
        if self.token_lengths:
            lines.append(stats(f"tokens per text ({self._tokenizer_name})", self.token_lengths))
            over = self.n_over_max_length or 0
            lines.append(
                f"longer than max_length={self.max_length}: {over} "
                f"({over / len(self.token_lengths):.1%})"
            )
        return "\n".join(lines)

    def plot(self) -> Figure:
        """Bar chart of the label counts and histogram of text lengths.

        Returns
        -------
        figure : matplotlib.figure.Figure
            Two panels; save with ``figure.savefig("summary.png")``.
        """
        from topicbert._plotting import new_figure

        figure = new_figure(figsize=(10, 4))
        bars, histogram = figure.subplots(1, 2)
        labels = [str(label) for label in self.label_counts]
        bars.bar(labels, list(self.label_counts.values()), color="tab:blue")
        bars.set_title("Texts per label")
        bars.set_ylabel("texts")
        bars.tick_params(axis="x", labelrotation=30)
        if self.token_lengths:
            histogram.hist(self.token_lengths, bins=50, color="tab:orange")
            histogram.axvline(self.max_length, color="black", linestyle="--")
            histogram.annotate(
                f"max_length={self.max_length}",
                (self.max_length, 1),
                xycoords=("data", "axes fraction"),
                xytext=(4, -14),
                textcoords="offset points",
            )
            histogram.set_xlabel("tokens per text")
        else:
            histogram.hist(self.word_lengths, bins=50, color="tab:orange")
            histogram.set_xlabel("words per text")
        histogram.set_title("Text length")
        histogram.set_ylabel("texts")
        return figure


def describe_dataset(
    data: pd.DataFrame, *, tokenizer: Any = None, max_length: int = DEFAULT_MAX_LENGTH
) -> DatasetSummary:
    """Summarise a labelled frame: missing values, labels, lengths.

    Parameters
    ----------
    data : pandas.DataFrame
        A frame with ``text`` and ``label`` columns.
    tokenizer : tokenizer or str, optional
        A Hugging Face tokenizer, or a backbone spec (such as
        ``"all-MiniLM-L6-v2"``) whose tokenizer to use, to count tokens.
    max_length : int, default=256
        Token budget to count the longer texts against
        (``BertTopicClassifier``'s default).

    Returns
    -------
    summary : DatasetSummary
        Printable (``print(summary)``) and plottable (``summary.plot()``).
    """
    for column in ("text", "label"):
        if column not in data.columns:
            raise ValueError(
                f"describe_dataset needs a {column!r} column; got {list(data.columns)}."
            )
    texts = data["text"].dropna().astype(str).tolist()
    name = ""
    token_lengths = None
    if tokenizer is not None:
        if isinstance(tokenizer, (str, Path)):
            from topicbert._backbones import resolve_backbone

            backbone = resolve_backbone(tokenizer)
            name, tokenizer = backbone.name, backbone.load_tokenizer()
        else:
            name = getattr(tokenizer, "name_or_path", type(tokenizer).__name__)
        encoded = tokenizer(texts, truncation=False, verbose=False)["input_ids"]
        token_lengths = [len(ids) for ids in encoded]
    labels_per_text: dict[int, int] = {}
    if is_multilabel_frame(data):
        counts = data["label"].explode().dropna().value_counts()
        sizes = data["label"].map(len).value_counts().sort_index()
        labels_per_text = {int(str(k)): int(v) for k, v in sizes.items()}
    else:
        counts = data["label"].value_counts(dropna=True)
    return DatasetSummary(
        n_rows=len(data),
        missing={str(column): int(count) for column, count in data.isna().sum().items()},
        label_counts={label: int(count) for label, count in counts.items()},
        labels_per_text=labels_per_text,
        word_lengths=[len(text.split()) for text in texts],
        token_lengths=token_lengths,
        max_length=max_length,
        n_duplicates=int(data["text"].dropna().duplicated().sum()),
        _tokenizer_name=str(name),
    )
