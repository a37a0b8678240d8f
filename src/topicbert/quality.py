"""Find the labels of a corpus that are most likely wrong, and texts labelled twice.

Needs the ``quality`` extra (``pip install 'topicbert[quality]'``, which
installs cleanlab). On a corpus like BBC News the last errors of a good model
are often the annotators': these functions point at the examples to read.

>>> from topicbert import BertTopicClassifier
>>> from topicbert.quality import find_label_issues
>>> issues = find_label_issues(  # doctest: +SKIP
...     BertTopicClassifier(training="head"), texts, labels, cv=5
... )
>>> issues.head()  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from topicbert._validation import check_texts, label_array

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["find_duplicate_conflicts", "find_label_issues", "out_of_fold_proba"]


def out_of_fold_proba(
    estimator: Any, X: Sequence[str], y: Sequence[Any], *, cv: int = 5, random_state: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities of each text from a model that did not see it (stratified k-fold).

    Parameters
    ----------
    estimator : classifier
        Any scikit-learn classifier with ``predict_proba`` (cloned for each
        fold). ``BertTopicClassifier(training="head")`` encodes each text
        once and reuses the vectors in every fold.
    X : sequence of str
        Texts.
    y : sequence
        Their given labels, one per text.
    cv : int, default=5
        Folds.
    random_state : int, default=0
        Seed of the fold assignment.

    Returns
    -------
    proba : ndarray of shape (n_texts, n_classes)
        Out-of-fold probabilities, columns in ``classes`` order.
    classes : ndarray of shape (n_classes,)
        The sorted labels.
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    texts = check_texts(X, owner="out_of_fold_proba")
    labels = label_array(list(y))
    if len(labels) != len(texts):
        raise ValueError(f"X has {len(texts)} texts but y has {len(labels)} labels.")
    classes, counts = np.unique(labels, return_counts=True)
    if isinstance(cv, bool) or not isinstance(cv, int) or cv < 2:
        raise ValueError(f"cv must be an integer of at least 2, got {cv!r}.")
    if counts.min() < cv:
        rare = classes[counts.argmin()]
        raise ValueError(
            f"The label {rare!r} has {counts.min()} texts, fewer than cv={cv} folds; "
            "lower cv or drop the label."
        )
    folds = StratifiedKFold(cv, shuffle=True, random_state=random_state)
    proba = cross_val_predict(estimator, texts, labels, cv=folds, method="predict_proba")
    return np.asarray(proba, dtype=np.float64), classes


def find_label_issues(
    estimator: Any,
    X: Sequence[str],
    y: Sequence[Any],
    *,
    cv: int = 5,
    random_state: int = 0,
    filter_by: str = "low_self_confidence",
    preview_chars: int = 80,
) -> pd.DataFrame:
    """Rank the texts whose given label is most likely wrong (confident learning).

    Out-of-fold probabilities (:func:`out_of_fold_proba`) go to cleanlab's
    ``find_label_issues``: it estimates from them how often each label is
    given in place of each other one, and so how many texts are mislabelled;
    that many are flagged, ranked by the out-of-fold probability of their
    given label.

    With BBC's training labels, 5% of them changed at random (two seeds), the
    default ``filter_by="low_self_confidence"`` (the texts whose given label
    is least probable, as many as estimated) found them with precision 1.00
    and 0.94, recall 0.82 and 0.89; cleanlab's own default,
    ``"prune_by_noise_rate"``, precision 0.79 and 0.79, recall 0.87 and 0.95
    (``benchmarks/label_issues.py``, ``docs/results.md``).

    Parameters
    ----------
    estimator : classifier
        Any classifier with ``predict_proba``; see :func:`out_of_fold_proba`.
    X : sequence of str
        Texts.
    y : sequence
        Their given labels.
    cv : int, default=5
        Folds for the out-of-fold probabilities.
    random_state : int, default=0
        Seed of the fold assignment.
    filter_by : str, default="low_self_confidence"
        How cleanlab picks the texts to flag (any of its ``filter_by``
        options, e.g. ``"prune_by_noise_rate"``, ``"confident_learning"``).
    preview_chars : int, default=80
        Characters of each text shown in the ``text`` column.

    Returns
    -------
    issues : pandas.DataFrame
        One row per flagged text, most suspect first: ``index`` (position in
        ``X``), ``given_label``, ``suggested_label`` (the most probable label
        out of fold), ``label_quality`` (the out-of-fold probability of the
        given label; lower is more suspect), ``suggested_proba`` and ``text``.
    """
    import pandas as pd

    try:
        from cleanlab.filter import find_label_issues as cleanlab_find
    except ImportError as exc:
        raise ImportError(
            "find_label_issues needs cleanlab; install it with: pip install 'topicbert[quality]'"
        ) from exc
    texts = check_texts(X, owner="find_label_issues")
    proba, classes = out_of_fold_proba(estimator, texts, y, cv=cv, random_state=random_state)
    given = np.searchsorted(classes, label_array(list(y)))
    flagged = cleanlab_find(
        given, proba, filter_by=filter_by, return_indices_ranked_by="self_confidence"
    )
    rows = np.asarray(flagged, dtype=np.int64)
    suggested = proba[rows].argmax(axis=1)
    table: pd.DataFrame = pd.DataFrame(
        {
            "index": rows,
            "given_label": classes[given[rows]],
            "suggested_label": classes[suggested],
            "label_quality": proba[rows, given[rows]],
            "suggested_proba": proba[rows, suggested],
            "text": [_preview(texts[i], preview_chars) for i in rows],
        }
    )
    return table


def find_duplicate_conflicts(
    X: Sequence[str], y: Sequence[Any], *, similarity: float = 0.9, preview_chars: int = 80
) -> pd.DataFrame:
    """Pairs of equal or nearly equal texts that carry different labels.

    Texts are compared by the cosine similarity of their TF-IDF vectors (words
    and word pairs); 1.0 means the same words in the same proportions.

    Parameters
    ----------
    X : sequence of str
        Texts.
    y : sequence
        Their labels.
    similarity : float, default=0.9
        The least similarity reported, between 0 and 1.
    preview_chars : int, default=80
        Characters of each text shown.

    Returns
    -------
    pairs : pandas.DataFrame
        ``index_a``, ``index_b`` (``index_a < index_b``), ``label_a``,
        ``label_b``, ``similarity`` and ``text_a``, most similar first.
    """
    import pandas as pd
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = check_texts(X, owner="find_duplicate_conflicts")
    labels = label_array(list(y))
    if len(labels) != len(texts):
        raise ValueError(f"X has {len(texts)} texts but y has {len(labels)} labels.")
    if not 0.0 < similarity <= 1.0:
        raise ValueError(f"similarity must be in (0, 1], got {similarity!r}.")
    columns = ["index_a", "index_b", "label_a", "label_b", "similarity", "text_a"]
    if len(texts) < 2:
        empty: pd.DataFrame = pd.DataFrame(columns=columns)
        return empty
    normalised = [re.sub(r"\s+", " ", text).strip().lower() for text in texts]
    vectors = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit_transform(normalised)
    pairs = []
    for start in range(0, len(texts), 512):
        block = (vectors[start : start + 512] @ vectors.T).tocoo()
        for i, j, value in zip(block.row + start, block.col, block.data, strict=True):
            if i < j and value >= similarity - 1e-9 and labels[i] != labels[j]:
                pairs.append((int(i), int(j), labels[i], labels[j], min(1.0, float(value))))
    pairs.sort(key=lambda pair: (-pair[4], pair[0], pair[1]))
    found: pd.DataFrame = pd.DataFrame(
        [(*pair, _preview(texts[pair[0]], preview_chars)) for pair in pairs], columns=columns
    )
    return found


def _preview(text: str, chars: int) -> str:
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= chars else flat[: chars - 1] + "…"
