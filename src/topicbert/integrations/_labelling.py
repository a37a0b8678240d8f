"""What the labelling page shows and keeps: the pool, the answers, the model that ranks.

A :class:`LabellingSession` hands out one unlabelled text at a time (the
least sure first when there is a model), keeps every answer in an
:class:`~topicbert.integrations._answers.AnswerLog`, and refits the model in
the background every ``retrain_every`` answers. Every method is safe to call
from the server's threads at once: two browser tabs never get the same text
while one holds it, and a text is recorded once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from topicbert.integrations._answers import AnswerLog

logger = logging.getLogger(__name__)

RESERVATION_SECONDS = 600.0
"""How long a text handed to one page is kept from the others (unless answered)."""
RANKED_AT_A_TIME = 1000
"""How many of the least sure texts one ranking orders; the rest follow in file order."""


class AlreadyLabelledError(ValueError):
    """An answer for a text that has one (given in another tab): answered with 409."""


@dataclass
class ModelState:
    """The model that ranks the pool, and what is known of its accuracy."""

    model: Any = None
    name: str = ""
    measure: str = ""
    score: float | None = None
    spread: float | None = None
    folds: int = 0
    answers: int = 0


@dataclass
class Reservation:
    client: str
    until: float


@dataclass
class RetrainState:
    every: int | None
    training: str = "head"
    running: bool = False
    answers_at_last_start: int = 0
    error: str | None = None
    waiting_for: list[str] = field(default_factory=list)


class LabellingSession:
    """The pool of texts to label, the answers given, and the model that ranks them.

    Parameters
    ----------
    texts : sequence of str
        The unlabelled pool (duplicates and blank texts are dropped).
    labels : sequence of str
        The labels a text may get, in the order of the buttons.
    log : AnswerLog
        Where answers go; texts it holds already are never shown.
    model : fitted classifier, optional
        Ranks the pool (least sure first) and shows its probabilities.
    model_name : str, default="given model"
        What the page calls ``model``.
    strategy : str, default="margin"
        How :func:`topicbert.active.suggest` ranks.
    retrain_every : int, optional
        Refit a model on the answers (and ``descriptions``) after every this
        many new answers, in the background, then rank with it.
    training : {"head", "contrastive"}, default="head"
        How the refit trains.
    descriptions : mapping, optional
        Label descriptions, added to the refit's examples.
    random_state : int, default=0
        Seed of refits and of their cross-validation.
    """

    def __init__(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        log: AnswerLog,
        *,
        model: Any = None,
        model_name: str = "given model",
        strategy: str = "margin",
        retrain_every: int | None = None,
        training: str = "head",
        descriptions: Mapping[str, Any] | None = None,
        random_state: int = 0,
    ) -> None:
        self.texts = list(dict.fromkeys(t for t in texts if t.strip()))
        self.labels = list(labels)
        self.log = log
        self.multilabel = log.multilabel
        self.strategy = strategy
        self.descriptions = dict(descriptions) if descriptions else None
        self.random_state = random_state
        self._lock = threading.RLock()
        self._model_lock = threading.Lock()  # a model is used by one thread at a time
        self._reserved: dict[int, Reservation] = {}
        self._skipped: set[int] = set()
        self._ranking: list[int] = []
        self.state = ModelState()
        self.retrain = RetrainState(every=retrain_every, training=training)
        self.retrain.answers_at_last_start = len(log)
        self._thread: threading.Thread | None = None
        if model is not None:
            self.state = ModelState(model=model, name=model_name)
            self._rank(model)

    # ------------------------------------------------------------------ the pool
    def _open(self, index: int, client: str, now: float) -> bool:
        if self.texts[index] in self.log or index in self._skipped:
            return False
        held = self._reserved.get(index)
        return held is None or held.client == client or held.until < now

    def next_item(self, client: str) -> dict[str, Any] | None:
        """The text this page should show now, reserved for it; None when all are done."""
        now = time.monotonic()
        with self._lock:
            mine = [i for i, r in self._reserved.items() if r.client == client and r.until >= now]
            chosen = next((i for i in mine if self._open(i, client, now)), None)
            if chosen is None:
                ranked = (i for i in self._ranking if self._open(i, client, now))
                rest = (i for i in range(len(self.texts)) if self._open(i, client, now))
                chosen = next(ranked, None)
                if chosen is None:
                    chosen = next(rest, None)
            if chosen is None:
                return None
            for index in mine:
                if index != chosen:
                    del self._reserved[index]
            self._reserved[chosen] = Reservation(client, now + RESERVATION_SECONDS)
        return self._item(chosen)

    def _item(self, index: int) -> dict[str, Any]:
        item: dict[str, Any] = {"id": index, "text": self.texts[index], "probabilities": None}
        model = self.state.model
        if model is not None:
            with self._model_lock:
                row = np.asarray(model.predict_proba([self.texts[index]]))[0]
            classes = [str(c) for c in model.classes_]
            item["probabilities"] = sorted(
                zip(classes, map(float, row), strict=True), key=lambda pair: -pair[1]
            )
        return item

    def _check_id(self, index: object) -> int:
        if isinstance(index, bool) or not isinstance(index, int):
            raise ValueError('"id" must be the integer id of a text from /api/next.')
        if not 0 <= index < len(self.texts):
            raise ValueError(
                f'"id" {index} is not a text of this pool (0 to {len(self.texts) - 1}).'
            )
        return index

    def check_labels(self, value: object) -> tuple[str, ...]:
        """An answer's labels, checked against the label set."""
        if self.multilabel:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError('"labels" must be a list of labels.')
            if not value:
                raise ValueError("Choose at least one label, or skip the text.")
            chosen = tuple(label for label in self.labels if label in value)
            unknown = sorted(set(value) - set(self.labels))
        else:
            if not isinstance(value, str):
                raise ValueError('"label" must be one of the labels.')
            chosen, unknown = (value,), ([] if value in self.labels else [value])
        if unknown:
            raise ValueError(f"Unknown label(s) {unknown}; the labels are {self.labels}.")
        return chosen

    def answer(self, client: str, index: object, value: object) -> None:
        """Record an answer on disk; :class:`AlreadyLabelledError` if the text has one."""
        position = self._check_id(index)
        labels = self.check_labels(value)
        if not self.log.add(self.texts[position], labels):
            raise AlreadyLabelledError(
                "This text was labelled already (in another tab?); here is the next one."
            )
        with self._lock:
            self._reserved.pop(position, None)
            self._skipped.discard(position)
        self._maybe_retrain()

    def skip(self, client: str, index: object) -> None:
        """Show this text to nobody again in this run."""
        position = self._check_id(index)
        with self._lock:
            self._skipped.add(position)
            self._reserved.pop(position, None)

    def undo(self, client: str, index: object) -> dict[str, Any]:
        """Take back the answer for a text (removed from the file) and show the text again."""
        position = self._check_id(index)
        labels = self.log.remove(self.texts[position])
        if labels is None:
            raise ValueError("That text has no answer to take back.")
        with self._lock:
            self._reserved[position] = Reservation(client, time.monotonic() + RESERVATION_SECONDS)
        item = self._item(position)
        item["previous"] = list(labels)
        return item

    def status(self) -> dict[str, Any]:
        """Counts, the model's accuracy so far and whether a refit is running."""
        answers = self.log.snapshot()
        counts = dict.fromkeys(self.labels, 0)
        for _, labels in answers:
            for label in labels:
                counts[label] = counts.get(label, 0) + 1
        state = self.state
        model = None
        if state.model is not None:
            model = {
                "name": state.name,
                "measure": state.measure or None,
                "score": state.score,
                "spread": state.spread,
                "folds": state.folds,
                "answers": state.answers,
            }
        with self._lock:
            remaining = sum(
                1
                for i, text in enumerate(self.texts)
                if text not in self.log and i not in self._skipped
            )
        return {
            "labelled": len(answers),
            "remaining": remaining,
            "per_label": counts,
            "model": model,
            "retraining": self.retrain.running,
            "retrain_every": self.retrain.every,
            "retrain_error": self.retrain.error,
            "waiting_for": self.retrain.waiting_for,
        }

    # ------------------------------------------------------------------ ranking
    def _rank(self, model: Any) -> None:
        """Order the least sure unlabelled texts first."""
        from topicbert.active import suggest

        with self._lock:
            done = {i for i, text in enumerate(self.texts) if text in self.log}
        available = len(self.texts) - len(done)
        if available == 0:
            ranking: list[int] = []
        else:
            with self._model_lock:
                ranking = suggest(
                    model,
                    self.texts,
                    min(available, RANKED_AT_A_TIME),
                    strategy=self.strategy,
                    exclude=done,
                    random_state=self.random_state,
                ).tolist()
        with self._lock:
            self._ranking = ranking

    # ---------------------------------------------------------------- retraining
    def _maybe_retrain(self) -> None:
        every = self.retrain.every
        if every is None:
            return
        with self._lock:
            due = len(self.log) - self.retrain.answers_at_last_start >= every
            if not due or self.retrain.running:
                return
            self.retrain.running = True
            self.retrain.answers_at_last_start = len(self.log)
            self._thread = threading.Thread(target=self._retrain, name="retrain", daemon=True)
            self._thread.start()

    def wait_for_retraining(self, timeout: float | None = None) -> None:
        """Block until the refit in progress, if any, has finished (for tests and shutdown)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _retrain(self) -> None:
        try:
            answers = self.log.snapshot()
            waiting = self._missing_examples(answers)
            self.retrain.waiting_for = waiting
            if waiting:
                return
            self._fit_and_rank(answers)
            self.retrain.error = None
        except Exception as exc:  # the page goes on with the model it has
            logger.exception("Refitting on the answers failed")
            self.retrain.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.retrain.running = False

    def _missing_examples(self, answers: list[tuple[str, tuple[str, ...]]]) -> list[str]:
        """Labels with too few answers to refit and cross-validate (2 each; sets: 1 in, 1 out)."""
        counts = dict.fromkeys(self.labels, 0)
        for _, labels in answers:
            for label in labels:
                counts[label] += 1
        if self.multilabel:
            return [label for label, count in counts.items() if count < 1 or count >= len(answers)]
        return [label for label, count in counts.items() if count < 2]

    def _estimator(self) -> Any:
        from topicbert import BertTopicClassifier

        base = self.state.model
        params = base.get_params(deep=False) if isinstance(base, BertTopicClassifier) else {}
        estimator = BertTopicClassifier(**params)
        estimator.set_params(training=self.retrain.training, random_state=self.random_state)
        if self.descriptions:
            estimator.set_params(descriptions=self.descriptions)
        return estimator

    def _fit_and_rank(self, answers: list[tuple[str, tuple[str, ...]]]) -> None:
        from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

        texts = [text for text, _ in answers]
        if self.multilabel:
            from sklearn.preprocessing import MultiLabelBinarizer

            y: Any = MultiLabelBinarizer(classes=self.labels).fit_transform(
                [labels for _, labels in answers]
            )
            folds = min(5, len(texts))
            cv: Any = KFold(folds, shuffle=True, random_state=self.random_state)
            measure, scoring = "micro-F1", "f1_micro"
        else:
            y = [labels[0] for _, labels in answers]
            folds = min(5, *(y.count(label) for label in self.labels))
            cv = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
            measure, scoring = "accuracy", "accuracy"
        scores = cross_val_score(self._estimator(), texts, y, cv=cv, scoring=scoring)
        model = self._estimator().fit(texts, y)
        self._rank(model)
        with self._lock:
            self.state = ModelState(
                model=model,
                name=f"refitted on {len(texts)} answers ({self.retrain.training})",
                measure=measure,
                score=float(np.mean(scores)),
                spread=float(np.std(scores)),
                folds=folds,
                answers=len(texts),
            )
