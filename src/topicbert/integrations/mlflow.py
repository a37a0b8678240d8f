"""Record fits in MLflow: parameters, per-epoch metrics, figures, report, model.

Needs the ``mlflow`` extra: ``pip install 'topicbert[mlflow]'``.

>>> from topicbert import BertTopicClassifier
>>> from topicbert.integrations.mlflow import MLflowCallback
>>> clf = BertTopicClassifier(callbacks=[MLflowCallback(experiment_name="bbc")])
>>> clf.fit(texts, labels)  # doctest: +SKIP

Inside ``with mlflow.start_run():`` every fit becomes a child run of the
active run, so a ``GridSearchCV`` gives one parent run with one child per
candidate fit. A logged model reloads with :func:`load_model` or as an MLflow
``pyfunc`` model (``mlflow.pyfunc.load_model(uri).predict(frame)``).

If the tracking server stops answering, training goes on: the failure is
reported once as a warning and nothing more is logged for that fit. MLflow
retries unanswered requests; ``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` and
``MLFLOW_HTTP_REQUEST_TIMEOUT`` bound how long that takes.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from topicbert.plugins import Callback

try:
    import mlflow
    import mlflow.pyfunc
    from mlflow.entities import Metric, Param
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "MLflow tracking needs mlflow; install it with: pip install 'topicbert[mlflow]'"
    ) from exc

__all__ = ["MLflowCallback", "TopicbertPyfuncModel", "load_model"]


class TopicbertPyfuncModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
    """MLflow ``pyfunc`` wrapper: ``predict`` takes a DataFrame of texts.

    The texts are the ``text`` column, or the first column when there is none.
    ``predict`` returns the labels; with ``params={"predict_proba": True}`` it
    returns a DataFrame of class probabilities instead.
    """

    def __init__(self) -> None:
        super().__init__()
        self.model: Any = None

    def load_context(self, context: Any) -> None:
        """Load the saved topicbert model from the logged artifacts."""
        from topicbert import BertTopicClassifier

        self.model = BertTopicClassifier.load(context.artifacts["model"])

    # No type hints on purpose: MLflow reads them as an input schema.
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        """Return labels, or probabilities with ``params={"predict_proba": True}``.

        A multi-label model returns each text's labels as a list of strings.
        """
        import pandas as pd

        if isinstance(model_input, pd.DataFrame):
            column = "text" if "text" in model_input.columns else model_input.columns[0]
            texts = model_input[column].tolist()
        else:
            texts = list(model_input)
        if params and params.get("predict_proba"):
            return pd.DataFrame(
                self.model.predict_proba(texts), columns=[str(c) for c in self.model.classes_]
            )
        predictions = self.model.predict(texts)
        if getattr(self.model, "target_kind_", "single") == "single":
            return predictions
        from topicbert._targets import label_lists

        return [
            [str(label) for label in labels]
            for labels in label_lists(predictions, self.model.classes_)
        ]


class MLflowCallback(Callback):
    """Record a fit as an MLflow run.

    Parameters
    ----------
    experiment_name : str, default="topicbert"
        Created when missing.
    tracking_uri : str, optional
        Where to record; MLflow's own default (``MLFLOW_TRACKING_URI``, else a
        local store in the working directory) when omitted.
    run_name : str, optional
        Name of the run.
    log_model : bool, default=True
        Log the fitted model (reloadable with :func:`load_model` or as a
        ``pyfunc`` model) at the end of training.
    eval_set : tuple of (texts, labels), optional
        Held-out data scored at the end of training: its report is logged as
        ``report.json`` and ``report.html`` with the confusion matrix as a PNG.
    nested : bool, default=True
        Inside an active MLflow run, record the fit as its child.

    Attributes
    ----------
    run_id : str or None
        The run of the latest fit.

    Notes
    -----
    A fit that raises or is interrupted ends its run with the status
    ``FAILED``. ``sklearn.base.clone`` (and so ``GridSearchCV``) gives each
    cloned estimator a new callback with the same settings and no run: every
    fit of every clone records a run of its own.
    """

    def __init__(
        self,
        *,
        experiment_name: str = "topicbert",
        tracking_uri: str | None = None,
        run_name: str | None = None,
        log_model: bool = True,
        eval_set: tuple[Sequence[str], Sequence[Any]] | None = None,
        nested: bool = True,
    ) -> None:
        self.experiment_name = experiment_name
        self.tracking_uri = tracking_uri
        self.run_name = run_name
        self.log_model = log_model
        self.eval_set = eval_set
        self.nested = nested
        self.run_id: str | None = None
        self._client: Any = None
        self._failed = False

    def __repr__(self) -> str:
        return f"MLflowCallback(experiment_name={self.experiment_name!r})"

    def __sklearn_clone__(self) -> MLflowCallback:
        """Return a callback with the same settings and no run or client."""
        return MLflowCallback(
            experiment_name=self.experiment_name,
            tracking_uri=self.tracking_uri,
            run_name=self.run_name,
            log_model=self.log_model,
            eval_set=self.eval_set,
            nested=self.nested,
        )

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_client"] = None  # clients hold connections; make a new one after unpickling
        return state

    # ---------------------------------------------------------------- helpers
    def _call(self, what: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one MLflow call; after a failure, warn once and stop logging."""
        if self._failed:
            return None
        try:
            return function(*args, **kwargs)
        except Exception as exc:  # any tracking failure must leave training alone
            self._failed = True
            warnings.warn(
                f"MLflow logging failed while trying to {what} ({type(exc).__name__}: {exc}); "
                "training continues without tracking.",
                RuntimeWarning,
                stacklevel=3,
            )
            return None

    def _start(self) -> str | None:
        self._client = mlflow.MlflowClient(tracking_uri=self.tracking_uri)
        experiment = self._client.get_experiment_by_name(self.experiment_name)
        experiment_id = (
            experiment.experiment_id
            if experiment is not None
            else self._client.create_experiment(self.experiment_name)
        )
        tags = {"mlflow.source.name": "topicbert"}
        active = mlflow.active_run() if self.nested else None
        if active is not None:
            tags["mlflow.parentRunId"] = active.info.run_id
        run = self._client.create_run(experiment_id, tags=tags, run_name=self.run_name)
        return str(run.info.run_id)

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, estimator: Any) -> None:
        """Check ``eval_set``, start a run and log every parameter."""
        self._failed = False
        self.run_id = None
        if self.eval_set is not None:
            self._check_eval_set(estimator)
        self.run_id = self._call("start a run", self._start)
        if self.run_id is None:
            return
        params = []
        for key, value in sorted(estimator.get_params(deep=False).items()):
            if key == "backbone" and not isinstance(value, (str, Path)):
                value = getattr(value, "name", type(value).__name__)
            params.append(Param(key, str(value)[:500]))
        self._call("log parameters", self._client.log_batch, self.run_id, params=params)

    def on_epoch_end(self, estimator: Any, record: dict[str, float]) -> None:
        """Log the epoch's metrics with the epoch as step."""
        if self.run_id is None:
            return
        step = int(record.get("epoch", len(estimator.history_)))
        now = int(time.time() * 1000)
        metrics = [
            Metric(key, float(value), now, step) for key, value in record.items() if key != "epoch"
        ]
        self._call("log metrics", self._client.log_batch, self.run_id, metrics=metrics)

    def on_train_end(self, estimator: Any) -> None:
        """Log the curves, the held-out report, the model, and end the run."""
        if self.run_id is None:
            return
        from topicbert import ClassificationReport, plot_training_curves

        client, run_id = self._client, self.run_id
        if estimator.history_:
            figure = plot_training_curves(estimator.history_)
            self._call(
                "log the training curves", client.log_figure, run_id, figure, "training_curves.png"
            )
        if self.eval_set is not None:
            texts, labels = self.eval_set
            report = ClassificationReport.from_estimator(estimator, texts, labels)
            self._call("log the report", client.log_dict, run_id, report.to_dict(), "report.json")
            self._call(
                "log the confusion matrix",
                client.log_figure,
                run_id,
                report.plot_confusion_matrix().figure,
                "confusion_matrix.png",
            )
            self._call(
                "log the report page", client.log_text, run_id, report.to_html(), "report.html"
            )
            self._call(
                "log held-out metrics",
                client.log_batch,
                run_id,
                metrics=_held_out_metrics(report),
            )
        if self.log_model:
            self._call("log the model", self._log_model, estimator)
        self._call("end the run", client.set_terminated, run_id, "FINISHED")

    def on_train_error(self, estimator: Any, error: BaseException) -> None:
        """End the run with the status ``FAILED``, recording what went wrong."""
        if self.run_id is None or self._client is None:
            return
        message = f"{type(error).__name__}: {error}"[:5000]
        self._call("tag the failure", self._client.set_tag, self.run_id, "error", message)
        self._call("end the run", self._client.set_terminated, self.run_id, "FAILED")

    def _check_eval_set(self, estimator: Any) -> None:
        """Fail before training, not after it, when ``eval_set`` cannot be scored."""
        from topicbert._validation import check_label_values, check_texts

        try:
            texts, labels = self.eval_set  # type: ignore[misc]
        except (TypeError, ValueError):
            raise TypeError(
                "MLflowCallback's eval_set must be a (texts, labels) pair; got "
                f"{type(self.eval_set).__name__}."
            ) from None
        owner = "MLflowCallback's eval_set"
        checked = check_texts(texts, owner=owner)
        if estimator.target_kind_ != "single":
            from topicbert._targets import as_indicator

            try:
                as_indicator(labels, estimator.classes_, len(checked))
            except ValueError as exc:
                raise ValueError(
                    f"{owner} holds labels the model is not trained on: {exc}"
                ) from exc
            return
        values = check_label_values(labels, len(checked), owner=owner)
        known = set(estimator.classes_.tolist())
        unknown = [label for label in dict.fromkeys(values.tolist()) if label not in known]
        if unknown:
            raise ValueError(
                f"{owner} holds labels the model is not trained on: {unknown[:5]!r}; the "
                f"model's labels are {sorted(map(str, known))!r}."
            )

    def _log_model(self, estimator: Any) -> None:
        import pandas as pd
        from mlflow.models import infer_signature

        from topicbert import __version__

        with tempfile.TemporaryDirectory() as tmp:
            saved = estimator.save(Path(tmp) / "topicbert")
            pyfunc_dir = Path(tmp) / "pyfunc"
            example = {"text": ["An example text."]}
            output: Any = [str(estimator.classes_[0])]
            if estimator.target_kind_ != "single":
                output = [[str(estimator.classes_[0])]]  # a list of labels per text
            signature = infer_signature(
                pd.DataFrame(example), output, params={"predict_proba": False}
            )
            mlflow.pyfunc.save_model(
                path=str(pyfunc_dir),
                python_model=TopicbertPyfuncModel(),
                artifacts={"model": str(saved)},
                signature=signature,
                input_example=pd.DataFrame(example),
                pip_requirements=[f"topicbert[mlflow]=={__version__}"],
            )
            self._client.log_artifacts(self.run_id, str(pyfunc_dir), "model")


def _held_out_metrics(report: Any) -> list[Any]:
    now = int(time.time() * 1000)
    values = {
        "test_accuracy": report.accuracy,
        "test_macro_f1": report.macro_avg["f1-score"],
    }
    if report.multilabel:  # accuracy is the subset accuracy
        values["test_micro_f1"] = report.micro_avg["f1-score"]
        values["test_samples_f1"] = report.samples_avg["f1-score"]
        values["test_hamming_loss"] = report.hamming_loss
    if report.log_loss is not None:
        values["test_log_loss"] = report.log_loss
    return [Metric(key, float(value), now, 0) for key, value in values.items()]


def load_model(run_id: str, *, tracking_uri: str | None = None, device: str = "auto") -> Any:
    """Load the topicbert model logged by a run.

    Parameters
    ----------
    run_id : str
        The run (``MLflowCallback.run_id``).
    tracking_uri : str, optional
        Where the run was recorded; MLflow's default when omitted.
    device : str, default="auto"
        Where to put the model.

    Returns
    -------
    model : BertTopicClassifier
        The fitted classifier.
    """
    from topicbert import BertTopicClassifier

    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(
            run_id=run_id,
            artifact_path="model/artifacts/topicbert",
            dst_path=tmp,
            tracking_uri=tracking_uri,
        )
        return BertTopicClassifier.load(local, device=device)
