"""topicbert on Ray (``pip install 'topicbert[ray]'``): scoring, training, searching.

Scoring a Ray Dataset's texts with an ONNX export:

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

Training on Ray Train: :class:`RayReport` reports each epoch's figures from
every worker of a ``TorchTrainer``. Searching parameters on Ray Tune:
:func:`tune_search` runs trials, stops the bad ones early (ASHA) and returns
the best model, fitted.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
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

    from topicbert import BertTopicClassifier

__all__ = ["RayReport", "TopicScorer", "TuneSearchResult", "score_dataset", "tune_search"]

SEARCH_METRICS = {
    "valid_loss": "min",
    "valid_accuracy": "max",
    "train_loss": "min",
    "train_accuracy": "max",
}
"""The ``history_`` figures a search can rank trials by, each with its direction."""


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


@dataclass(frozen=True)
class TuneSearchResult:
    """What :func:`tune_search` found.

    Attributes
    ----------
    best_estimator : BertTopicClassifier
        The best trial's model, fitted (loaded from its checkpoint).
    best_params : dict
        The best trial's values of the searched parameters.
    best_score : float
        The best trial's ``metric``, for the epoch whose weights it kept.
    results : ray.tune.ResultGrid
        Every trial: ``results.get_dataframe()`` gives one row per trial,
        ``result.metrics_dataframe`` one row per reported epoch.
    """

    best_estimator: BertTopicClassifier
    best_params: dict[str, Any]
    best_score: float
    results: Any = field(repr=False)


def tune_search(
    texts: Sequence[str],
    labels: Sequence[Any],
    param_space: Mapping[str, Any],
    *,
    params: Mapping[str, Any] | None = None,
    num_samples: int = 1,
    metric: str = "valid_loss",
    grace_period: int = 1,
    reduction_factor: int = 2,
    scheduler: Any = None,
    search_alg: Any = None,
    cpus_per_trial: float = 1,
    gpus_per_trial: float = 0,
    max_concurrent_trials: int | None = None,
    storage_path: str | os.PathLike[str] | None = None,
    name: str | None = None,
    save_to: str | os.PathLike[str] | None = None,
) -> TuneSearchResult:
    """Search the estimator's parameters on Ray Tune, stopping bad trials early.

    Each trial fits a :class:`~topicbert.BertTopicClassifier` with ``params``
    and one draw of ``param_space`` on the same texts, reports every epoch's
    ``history_`` record to Tune (:class:`RayReport`), and at its end saves
    the model as a Tune checkpoint with the figures of the epoch whose
    weights it kept (with ``early_stopping``, the epoch of lowest validation
    loss). ASHA decides at its rungs (with the defaults, after epochs 1, 2,
    4, ...): a trial whose ``metric`` there is in the worse part of the
    trials already recorded at that rung is stopped (the first trial to reach
    a rung always goes on). The best of the trials that finished with a
    finite ``metric`` is loaded back and returned.

    Parameters
    ----------
    texts : sequence of str
        The training texts, sent once to Ray's object store.
    labels : sequence
        One label per text (or one set of labels per text).
    param_space : mapping
        Estimator parameters to search, as Tune's search spaces
        (``tune.loguniform(1e-5, 1e-4)``, ``tune.choice([2, 3])``,
        ``tune.grid_search([...])``) or fixed values.
    params : mapping, optional
        Estimator parameters every trial shares (``backbone``, ``epochs``,
        ``early_stopping=True``, ...). ``callbacks`` here are kept beside the
        reporting one. Give ``training="full"`` for a report per epoch: with
        few texts per label the default ``training="auto"`` trains
        contrastively, which reports once, so ASHA has no rung to stop at.
    num_samples : int, default=1
        Draws of ``param_space`` (each ``grid_search`` is crossed with them).
    metric : str, default="valid_loss"
        ``"valid_loss"``, ``"valid_accuracy"``, ``"train_loss"`` or
        ``"train_accuracy"``: the figure trials are ranked by (losses lowest, accuracies highest).
        The validation figures need ``params={"early_stopping": True, ...}``,
        which holds out ``validation_fraction`` of the texts in every trial.
    grace_period, reduction_factor : int, default=1 and 2
        ASHA's: epochs every trial runs before it can be stopped, and the
        share kept at each rung (a half).
    scheduler, search_alg : optional
        Tune's own objects, in place of the ASHA scheduler and the random
        or grid search (``ray.tune.search.optuna.OptunaSearch()``, ...).
    cpus_per_trial, gpus_per_trial : float, default=1 and 0
        What each trial asks Ray for. With a GPU, ``device="auto"`` (the
        default) trains on it; ``gpus_per_trial=0.5`` puts two trials on one.
    max_concurrent_trials : int, optional
        Trials at once; by default as many as the CPUs allow.
    storage_path : str or path-like, optional
        Where Tune keeps the trials' results and checkpoints (a local folder
        or a URI every node can reach); Tune's default otherwise
        (``~/ray_results``).
    name : str, optional
        The experiment's folder under ``storage_path``.
    save_to : str or path-like, optional
        Also save the best model there (checked before the search starts).

    Returns
    -------
    TuneSearchResult
        The best model, its parameters and score, and every trial's results.

    Raises
    ------
    ValueError
        Before any trial: an unknown or doubly given parameter, ``callbacks``
        in ``param_space``, an unknown ``metric``, a validation metric
        without ``early_stopping=True`` in ``params``, texts and labels of
        different lengths, a bad fixed parameter value.
    topicbert.exceptions.ModelSaveError
        Before any trial: ``save_to`` is a file or a folder of other files.
    RuntimeError
        When no trial finished with a finite ``metric``; the first trial's
        error is its cause.
    """
    from topicbert import BertTopicClassifier
    from topicbert._persistence import check_save_target

    fixed = dict(params or {})
    searched = dict(param_space)
    known = set(BertTopicClassifier().get_params())
    unknown = sorted((set(fixed) | set(searched)) - known)
    if unknown:
        raise ValueError(f"Not parameters of BertTopicClassifier: {unknown!r}.")
    both = sorted(set(fixed) & set(searched))
    if both:
        raise ValueError(f"Given both in params and in param_space: {both!r}; keep one.")
    if "callbacks" in searched:
        raise ValueError("callbacks cannot be searched; pass them in params.")
    if metric not in SEARCH_METRICS:
        raise ValueError(f"metric must be one of {sorted(SEARCH_METRICS)!r}, got {metric!r}.")
    if metric.startswith("valid_") and fixed.get("early_stopping") is not True:
        raise ValueError(
            f"metric={metric!r} needs a validation split in every trial: pass "
            "params={'early_stopping': True, ...} (or rank by a train_ figure)."
        )
    for what, count in (("num_samples", num_samples), ("grace_period", grace_period)):
        check_positive(what, count)
    if reduction_factor < 2:
        raise ValueError(f"reduction_factor must be 2 or more, got {reduction_factor!r}.")
    if not cpus_per_trial > 0 or not gpus_per_trial >= 0:
        raise ValueError(
            "cpus_per_trial must be positive and gpus_per_trial not negative, got "
            f"{cpus_per_trial!r} and {gpus_per_trial!r}."
        )
    texts, labels = list(texts), list(labels)
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels.")
    if max_concurrent_trials is not None:
        check_positive("max_concurrent_trials", max_concurrent_trials)
    if save_to is not None:
        check_save_target(Path(save_to))

    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.sample import Domain

    # fixed values, and each value of a grid, are checked as the estimator would
    candidates: list[dict[str, Any]] = [{}]
    for key, value in searched.items():
        if isinstance(value, Mapping) and set(value) == {"grid_search"}:
            candidates = [{**c, key: v} for c in candidates for v in value["grid_search"]]
        elif not isinstance(value, Domain):
            candidates = [{**c, key: value} for c in candidates]
    for candidate in candidates:
        BertTopicClassifier(**fixed, **candidate)._validate_params()

    mode = SEARCH_METRICS[metric]
    if scheduler is None:
        # a trial ends by itself after its epochs; max_t only bounds ASHA's rungs
        scheduler = ASHAScheduler(
            time_attr="epoch",
            max_t=1000,
            grace_period=grace_period,
            reduction_factor=reduction_factor,
        )
    trainable = tune.with_resources(
        tune.with_parameters(_run_trial, texts=texts, labels=labels, params=fixed),
        {"cpu": cpus_per_trial, "gpu": gpus_per_trial},
    )
    tuner = tune.Tuner(
        trainable,
        param_space=searched,
        tune_config=tune.TuneConfig(
            metric=metric,
            mode=mode,
            scheduler=scheduler,
            search_alg=search_alg,
            num_samples=num_samples,
            max_concurrent_trials=max_concurrent_trials,
        ),
        run_config=tune.RunConfig(
            storage_path=_storage(storage_path),
            name=name,
        ),
    )
    results = tuner.fit()
    trials: list[Any] = [results[index] for index in range(len(results))]
    # a trial whose figure diverged (NaN, inf) is not a candidate, even if it ended
    finished = [
        r
        for r in trials
        if r.error is None
        and r.checkpoint is not None
        and math.isfinite(float(r.metrics.get(metric, math.nan)))
    ]
    if not finished:
        errors = [r.error for r in trials if r.error is not None]
        raise RuntimeError(
            f"No trial of the search finished with a finite {metric} "
            f"({len(errors)} of {len(trials)} failed)."
            + (f" The first error: {errors[0]}" if errors else "")
        ) from (errors[0] if errors else None)
    sign = 1.0 if mode == "min" else -1.0
    best = min(finished, key=lambda result: sign * float(result.metrics[metric]))
    with best.checkpoint.as_directory() as folder:
        estimator = BertTopicClassifier.load(folder)
    if save_to is not None:
        estimator.save(Path(save_to))
    return TuneSearchResult(
        best_estimator=estimator,
        best_params={key: best.config[key] for key in searched},
        best_score=float(best.metrics[metric]),
        results=results,
    )


def _run_trial(
    config: dict[str, Any], *, texts: list[str], labels: list[Any], params: dict[str, Any]
) -> None:
    """One trial of :func:`tune_search`: fit, report each epoch, then the kept one and the model."""
    from ray import tune

    from topicbert import BertTopicClassifier

    estimator = BertTopicClassifier(**{**params, **config})
    estimator.set_params(callbacks=[*(estimator.callbacks or []), RayReport(to="tune")])
    estimator.fit(texts, labels)
    with tempfile.TemporaryDirectory() as folder:
        estimator.save(folder)
        tune.report(kept_record(estimator), checkpoint=tune.Checkpoint.from_directory(folder))


def _storage(storage_path: str | os.PathLike[str] | None) -> str | None:
    """Tune's storage: a URI as given (``s3://...``), a local folder made absolute."""
    if storage_path is None:
        return None
    if "://" in str(storage_path):
        return str(storage_path)
    return str(Path(storage_path).resolve())


def kept_record(estimator: BertTopicClassifier) -> dict[str, float]:
    """The ``history_`` record of the epoch whose weights the fitted estimator holds.

    With ``early_stopping`` the weights of the lowest validation loss are
    kept (the first such epoch); otherwise the last epoch's.
    """
    history = estimator.history_
    # weights are kept only on a lower validation loss, which NaN never is
    validated = [record for record in history if math.isfinite(record.get("valid_loss", math.nan))]
    if estimator.early_stopping and validated:
        return dict(min(validated, key=lambda record: record["valid_loss"]))
    return dict(history[-1])
