"""A fit that fails or is interrupted leaves the estimator as it was; callbacks hear of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from topicbert import Callback
from topicbert._classifier import _FITTED

from .conftest import tiny_classifier


class StopAt(Callback):
    """Raises ``error`` at the end of epoch ``epoch`` and records the hooks called."""

    def __init__(self, epoch: int, error: BaseException) -> None:
        self.epoch = epoch
        self.error = error
        self.calls: list[str] = []

    def on_train_begin(self, estimator) -> None:
        self.calls.append("begin")

    def on_epoch_end(self, estimator, record) -> None:
        self.calls.append("epoch")
        if record["epoch"] == self.epoch:
            raise self.error

    def on_train_end(self, estimator) -> None:
        self.calls.append("end")

    def on_train_error(self, estimator, error) -> None:
        self.calls.append(f"error:{type(error).__name__}")


@pytest.mark.parametrize("error", [KeyboardInterrupt(), RuntimeError("out of memory")])
@pytest.mark.parametrize("training", ["full", "head", "contrastive"])
def test_interrupted_first_fit_leaves_the_estimator_unfitted(
    tiny_bert: Path, corpus, error: BaseException, training: str
) -> None:
    stop = StopAt(1, error)
    clf = tiny_classifier(tiny_bert, callbacks=[stop], training=training)
    with pytest.raises(type(error)):
        clf.fit(*corpus)
    assert not any(name in clf.__dict__ for name in _FITTED)
    with pytest.raises(NotFittedError):
        clf.predict(["a text"])
    assert stop.calls == ["begin", "epoch", f"error:{type(error).__name__}"]


def test_interrupted_refit_keeps_the_previous_model(tiny_bert: Path, corpus, held_out) -> None:
    clf = tiny_classifier(tiny_bert, epochs=1).fit(*corpus)
    before = {name: clf.__dict__[name] for name in _FITTED}
    expected = clf.predict_proba(held_out[0])
    texts, labels = corpus
    clf.set_params(callbacks=[StopAt(2, KeyboardInterrupt())], epochs=3)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(texts[:60], [f"new-{label}" for label in labels[:60]])  # other classes
    for name, value in before.items():
        assert clf.__dict__[name] is value, name
    np.testing.assert_array_equal(clf.predict_proba(held_out[0]), expected)


def test_failure_while_encoding_keeps_the_previous_model(
    tiny_bert: Path, corpus, held_out, monkeypatch: pytest.MonkeyPatch
) -> None:
    clf = tiny_classifier(tiny_bert, epochs=1).fit(*corpus)
    expected = clf.predict_proba(held_out[0])
    model = clf.model_

    def broken(*args: object, **kwargs: object) -> None:
        raise MemoryError("no memory left for the batch")

    monkeypatch.setattr("topicbert._training.train", broken)
    with pytest.raises(MemoryError):
        clf.fit(*corpus)
    monkeypatch.undo()
    assert clf.model_ is model
    np.testing.assert_array_equal(clf.predict_proba(held_out[0]), expected)


def test_clone_deep_copies_plain_callbacks(tiny_bert: Path) -> None:
    stop = StopAt(5, RuntimeError("x"))
    stop.calls.append("from an earlier fit")
    copy = clone(tiny_classifier(tiny_bert, callbacks=[stop]))
    (cloned,) = copy.callbacks
    assert cloned is not stop and isinstance(cloned, StopAt)
    assert cloned.calls == ["from an earlier fit"] and cloned.calls is not stop.calls
