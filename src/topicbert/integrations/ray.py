"""Score a Ray Dataset's texts with an ONNX export (``pip install 'topicbert[ray]'``).

:class:`TopicScorer` is a callable class for ``Dataset.map_batches``: Ray
creates one per actor, which loads the export once (ONNX Runtime, no torch)
and scores pandas batches with it; :func:`score_dataset` checks the export
and the columns on the driver and makes that call.

>>> import ray
>>> from topicbert.integrations.ray import score_dataset
>>> texts = ray.data.read_parquet("corpus/")  # doctest: +SKIP
>>> score_dataset(texts, "models/bbc-onnx", id_col="id", concurrency=4).write_parquet(
...     "scores/"
... )  # doctest: +SKIP

or by hand, with the same outputs:

>>> texts.map_batches(
...     TopicScorer,
...     fn_constructor_kwargs={"model_dir": "models/bbc-onnx"},
...     compute=ray.data.ActorPoolStrategy(size=4),
...     batch_format="pandas",
... )  # doctest: +SKIP

The export's path must be readable at the same path on the driver and on
every node (a shared file system, or the runtime environment's
``working_dir``). A null or non-string text gets a null label and null
probabilities; the job goes on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from topicbert.integrations._scoring import (
    arrow_table,
    cached_classifier,
    check_columns,
    check_positive,
    checked_export,
    score_texts,
)
from topicbert.plugins import Callback

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RayReport", "TopicScorer", "score_dataset"]


class RayReport(Callback):
    """Reports each epoch's figures to Ray Train or Ray Tune, from every worker.

    Pass it as ``BertTopicClassifier(callbacks=[RayReport()])`` inside a Ray
    Train ``TorchTrainer``'s training function (``fit`` then runs on Ray's
    process group as under ``torchrun``) or a Ray Tune trainable: after each
    epoch it reports the epoch's ``history_`` record (``valid_loss``,
    ``valid_accuracy``, ... ; the same on every worker, all-reduced), so that
    Tune's schedulers (ASHA) can stop a bad trial early. Every worker calls it
    the same number of times, as Ray Train needs.

    Parameters
    ----------
    to : {"train", "tune"}, default="train"
        ``ray.train.report`` (in a ``TorchTrainer``) or ``ray.tune.report``
        (in a Tune function trainable).
    """

    every_rank = True

    def __init__(self, to: str = "train") -> None:
        if to not in ("train", "tune"):
            raise ValueError(f"to must be 'train' or 'tune', got {to!r}.")
        self.to = to

    def on_epoch_end(self, estimator: Any, record: dict[str, float]) -> None:
        """Report the epoch's record."""
        if self.to == "train":
            import ray.train

            ray.train.report(dict(record))
        else:
            import ray.tune

            ray.tune.report(dict(record))


class TopicScorer:
    """Scores pandas batches of texts with an ONNX export, for ``Dataset.map_batches``.

    Parameters
    ----------
    model_dir : str or path-like
        A directory written by :meth:`topicbert.BertTopicClassifier.export_onnx`
        (``topicbert export``).
    text_col : str, default="text"
        The column of texts.
    id_col : str, optional
        The only input column kept beside the scores; by default every input
        column is kept.
    output : {"label", "probabilities", "both"}, default="both"
        Which score columns: ``label`` (multi-label: ``labels``, a list of
        strings), one ``p_LABEL`` column per label, or both.
    batch_size : int, default=8
        Texts per ONNX Runtime call.
    threads : int, default=1
        ONNX Runtime threads per actor (ask Ray for as many CPUs: ``num_cpus``).
    min_confidence : float, optional
        Abstention, as the estimator's parameter: a text whose top probability
        is below it gets the model's ``abstain_label`` (null by default;
        multi-label: an empty list).

    Raises
    ------
    topicbert.exceptions.ModelLoadError
        When ``model_dir`` is not a usable export.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str],
        *,
        text_col: str = "text",
        id_col: str | None = None,
        output: str = "both",
        batch_size: int = 8,
        threads: int = 1,
        min_confidence: float | None = None,
    ) -> None:
        self.info = checked_export(model_dir, output=output, batch_size=batch_size, threads=threads)
        self.text_col = text_col
        self.id_col = id_col
        self.output = output
        self.classifier = cached_classifier(
            self.info, threads=threads, batch_size=batch_size, min_confidence=min_confidence
        )

    def __call__(self, batch: pd.DataFrame) -> Any:
        """The kept columns of ``batch``, then its texts' scores, as a ``pyarrow.Table``.

        The score columns have the same Arrow types in every batch (strings, or
        lists of strings, and doubles), even in a batch where all are null.
        """
        outputs = self.info.columns(self.output)
        kept = check_columns(list(batch.columns), self.text_col, self.id_col, outputs)
        scores = score_texts(self.classifier, batch[self.text_col], self.info, self.output)
        return arrow_table(batch[kept], scores, self.info)


def score_dataset(
    dataset: Any,
    model_dir: str | os.PathLike[str],
    *,
    text_col: str = "text",
    id_col: str | None = None,
    output: str = "both",
    concurrency: int | tuple[int, int] = 1,
    batch_size: int = 8,
    threads: int = 1,
    min_confidence: float | None = None,
    map_batches_options: Mapping[str, Any] | None = None,
) -> Any:
    """Score every row of a Ray Dataset with an ONNX export, ``concurrency`` actors at once.

    Parameters
    ----------
    dataset : ray.data.Dataset
        The texts, in the column ``text_col``.
    model_dir : str or path-like
        An ONNX export's directory.
    text_col, id_col, output, batch_size, threads, min_confidence
        As for :class:`TopicScorer`.
    concurrency : int or (int, int), default=1
        Actors, each with its own copy of the model and ``threads`` CPUs: a
        fixed number, or ``(min, max)`` for a pool that Ray grows and shrinks.
        A fixed pool that takes every CPU leaves none for the tasks that read
        and write the data, and Ray Data then waits forever: leave a CPU free
        or give a range.
    map_batches_options : mapping, optional
        Further arguments to ``Dataset.map_batches`` (``batch_size``: rows
        per batch, ``num_gpus``, ...).

    Returns
    -------
    ray.data.Dataset
        The kept columns, then the score columns; lazily evaluated, like any
        Dataset.

    Raises
    ------
    ValueError
        When ``text_col`` or ``id_col`` is not a column, or a kept column has
        a score column's name.
    topicbert.exceptions.ModelLoadError
        When ``model_dir`` is not a usable export (on the driver, before any job).
    """
    for count in concurrency if isinstance(concurrency, tuple) else (concurrency,):
        check_positive("concurrency", count)
    info = checked_export(model_dir, output=output, batch_size=batch_size, threads=threads)
    schema = dataset.schema()
    if schema is not None:
        check_columns(list(schema.names), text_col, id_col, info.columns(output))
    from ray.data import ActorPoolStrategy

    options = dict(map_batches_options or {})
    clashes = sorted(
        {"fn_constructor_kwargs", "batch_format", "compute", "concurrency"} & set(options)
    )
    if clashes:
        raise ValueError(f"map_batches_options may not set {clashes!r}: score_dataset sets them.")
    options.setdefault("num_cpus", threads)
    if isinstance(concurrency, tuple):
        pool = ActorPoolStrategy(min_size=concurrency[0], max_size=concurrency[1])
    else:
        pool = ActorPoolStrategy(size=concurrency)
    return dataset.map_batches(
        TopicScorer,
        fn_constructor_kwargs={
            "model_dir": info.path,
            "text_col": text_col,
            "id_col": id_col,
            "output": output,
            "batch_size": batch_size,
            "threads": threads,
            "min_confidence": min_confidence,
        },
        compute=pool,
        batch_format="pandas",
        **options,
    )
