"""The fine-tuning loop (``topicbert._training``) and the training options it acts on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook
from transformers import AutoModel, AutoTokenizer

from topicbert import _token_batches, _training
from topicbert._model import TopicModel
from topicbert._tokenizing import tokenize
from topicbert._training import TrainingSettings, count_correct, start_at_base_rates, train

from .conftest import tiny_classifier


@pytest.fixture
def optimizer_steps():
    """A list that gets one entry per optimizer step taken during the test."""
    steps: list[int] = []
    handle = register_optimizer_step_post_hook(lambda *_: steps.append(1))
    yield steps
    handle.remove()


def test_splitting_batches_into_parts_gives_the_same_model(
    tiny_bert: Path, corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # without dropout anywhere, the parts' summed gradients are the whole batch's
    encoder = AutoModel.from_pretrained(tiny_bert)
    encoder.config.hidden_dropout_prob = encoder.config.attention_probs_dropout_prob = 0.0
    encoder.save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(tmp_path)
    texts, labels = corpus
    params = {"dropout": 0.0, "epochs": 2, "class_weight": "balanced"}
    whole = tiny_classifier(tmp_path, **params).fit(texts, labels)
    monkeypatch.setattr(_token_batches, "CPU_TOKEN_BUDGET", 40)
    parts = tiny_classifier(tmp_path, **params).fit(texts, labels)
    np.testing.assert_allclose(parts.predict_proba(texts), whole.predict_proba(texts), atol=2e-4)
    for a, b in zip(whole.history_, parts.history_, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)


def test_early_stopping_records_validation_and_stops(tiny_bert: Path, corpus) -> None:
    texts, labels = corpus
    # shuffled labels: the model can only memorise, so the validation loss soon rises
    shuffled = list(np.random.RandomState(0).permutation(labels))
    clf = tiny_classifier(
        tiny_bert, epochs=30, early_stopping=True, validation_fraction=0.2, n_iter_no_change=1
    ).fit(texts, shuffled)
    assert {"valid_loss", "valid_accuracy"} <= set(clf.history_[0])
    losses = [record["valid_loss"] for record in clf.history_]
    assert len(losses) < 30
    assert losses[-1] >= min(losses[:-1])  # it stopped on an epoch without improvement


def still_model(tiny_bert: Path) -> TopicModel:
    """The tiny BERT with a 3-class head and no dropout anywhere, seeded."""
    encoder = AutoModel.from_pretrained(
        tiny_bert, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return TopicModel(encoder, 3, 0.0, "mean")


def settings(**changes: object) -> TrainingSettings:
    values: dict[str, object] = {
        "epochs": 1,
        "batch_size": 4,
        "learning_rate": 1e-3,
        "weight_decay": 0.01,
        "warmup_ratio": 0.0,
        "max_grad_norm": 1.0,
        "accumulation_steps": 1,
        "n_iter_no_change": None,
        "verbose": 0,
    }
    values.update(changes)
    return TrainingSettings(**values)  # type: ignore[arg-type]


def run_train(
    model: TopicModel, documents, labels: np.ndarray, pad_id: int, **changes: object
) -> list[dict[str, float]]:
    class_weights = changes.pop("class_weights", None)
    return train(
        model,
        documents,
        labels,
        valid_ids=None,
        valid_labels=None,
        settings=settings(**changes),
        pad_id=pad_id,
        device=torch.device("cpu"),
        amp_dtype=None,
        class_weights=class_weights,  # type: ignore[arg-type]
        rng=np.random.RandomState(0),
        on_epoch_end=lambda record: None,
    )


def test_accumulating_two_batches_is_one_step_on_both(
    tiny_bert: Path, corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    texts, labels = corpus
    documents = tokenize(tokenizer, texts[:8], 32)
    targets = np.array([["business", "sport", "tech"].index(label) for label in labels[:8]])
    pad_id = tokenizer.pad_token_id
    # the same eight texts: two batches of four, or one batch of eight
    halves = [np.arange(4), np.arange(4, 8)]
    monkeypatch.setattr(_training, "length_bucketed_batches", lambda *_, **__: halves)
    accumulated = still_model(tiny_bert)
    run_train(accumulated, documents, targets, pad_id, batch_size=4, accumulation_steps=2)
    stepwise = still_model(tiny_bert)
    run_train(stepwise, documents, targets, pad_id, batch_size=4, accumulation_steps=1)
    monkeypatch.setattr(_training, "length_bucketed_batches", lambda *_, **__: [np.arange(8)])
    whole = still_model(tiny_bert)
    run_train(whole, documents, targets, pad_id, batch_size=8, accumulation_steps=1)
    for name, value in whole.state_dict().items():
        torch.testing.assert_close(accumulated.state_dict()[name], value, msg=name)
    changed = whole.classifier.weight - stepwise.classifier.weight
    assert changed.abs().max() > 1e-4  # a step per half-batch is another model


def test_accumulation_steps_divide_the_optimizer_steps(
    tiny_bert: Path, corpus, optimizer_steps: list[int]
) -> None:
    texts, labels = corpus  # 120 texts in batches of 8: 15 batches an epoch
    steps = optimizer_steps
    tiny_classifier(tiny_bert, epochs=1, accumulation_steps=1).fit(texts, labels)
    assert len(steps) == 15
    steps.clear()
    tiny_classifier(tiny_bert, epochs=1, accumulation_steps=3).fit(texts, labels)
    assert len(steps) == 5
    steps.clear()
    tiny_classifier(tiny_bert, epochs=1, accumulation_steps=4).fit(texts, labels)
    assert len(steps) == 4  # the last, shorter group is stepped too


def test_balanced_class_weights_change_the_loss_on_imbalanced_classes(
    tiny_bert: Path, corpus
) -> None:
    texts, labels = corpus
    keep = [i for i, label in enumerate(labels) if label != "tech" or i % 4 == 0]
    texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
    plain = tiny_classifier(tiny_bert, epochs=1).fit(texts, labels)
    balanced = tiny_classifier(tiny_bert, epochs=1, class_weight="balanced").fit(texts, labels)
    loss = plain.history_[0]["train_loss"]
    assert balanced.history_[0]["train_loss"] != pytest.approx(loss, rel=1e-3)


def test_class_weights_weigh_each_texts_loss(tiny_bert: Path, corpus) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    texts, labels = corpus
    documents = tokenize(tokenizer, texts[:8], 32)
    targets = np.array([["business", "sport", "tech"].index(label) for label in labels[:8]])
    pad_id = tokenizer.pad_token_id
    # a learning rate of 0 leaves the model as it was: the losses are those of one model
    unweighted = run_train(still_model(tiny_bert), documents, targets, pad_id, learning_rate=0.0)
    equal = run_train(
        still_model(tiny_bert),
        documents,
        targets,
        pad_id,
        learning_rate=0.0,
        class_weights=torch.full((3,), 5.0),
    )
    skewed = run_train(
        still_model(tiny_bert),
        documents,
        targets,
        pad_id,
        learning_rate=0.0,
        class_weights=torch.tensor([1.0, 1.0, 50.0]),
    )
    # the loss is a weighted mean: equal weights leave it alone, unequal ones do not
    assert equal[0]["train_loss"] == pytest.approx(unweighted[0]["train_loss"], rel=1e-5)
    assert skewed[0]["train_loss"] != pytest.approx(unweighted[0]["train_loss"], rel=1e-2)


def test_gradients_are_clipped_to_max_grad_norm_or_not_at_all(
    tiny_bert: Path, corpus, monkeypatch: pytest.MonkeyPatch, optimizer_steps: list[int]
) -> None:
    texts, labels = corpus
    norms: list[float] = []
    clip = torch.nn.utils.clip_grad_norm_

    def recording(parameters, max_norm, *args, **kwargs):
        norms.append(max_norm)
        return clip(parameters, max_norm, *args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", recording)
    steps = optimizer_steps
    tiny_classifier(tiny_bert, epochs=1, max_grad_norm=0.5).fit(texts, labels)
    assert norms == [0.5] * len(steps) and len(steps) == 15
    norms.clear()
    tiny_classifier(tiny_bert, epochs=1, max_grad_norm=None).fit(texts, labels)
    assert norms == []


class AutocastRecorder:
    """The tiny BERT, recording the autocast state each of its forward passes runs in."""

    name = "recording"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.states: list[tuple[bool, bool, torch.dtype]] = []

    def load_tokenizer(self):
        return AutoTokenizer.from_pretrained(self.directory)

    def load_encoder(self):
        encoder = AutoModel.from_pretrained(self.directory)

        def record(module, args, kwargs) -> None:
            self.states.append(
                (
                    module.training,
                    torch.is_autocast_enabled("cpu"),
                    torch.get_autocast_dtype("cpu"),
                )
            )

        encoder.register_forward_pre_hook(record, with_kwargs=True)
        return encoder


@pytest.mark.parametrize(("precision", "autocast"), [("bf16", True), ("fp32", False)])
def test_bf16_runs_the_encoder_under_bf16_autocast(
    tiny_bert: Path, corpus, precision: str, autocast: bool
) -> None:
    texts, labels = corpus
    recorder = AutocastRecorder(tiny_bert)
    clf = tiny_classifier(tiny_bert, backbone=recorder, epochs=1, precision=precision)
    clf.fit(texts, labels)
    training = [(enabled, dtype) for is_training, enabled, dtype in recorder.states if is_training]
    assert len(training) >= 15
    if autocast:
        assert set(training) == {(True, torch.bfloat16)}
    else:
        assert {enabled for enabled, _ in training} == {False}
    assert np.isfinite(clf.history_[0]["train_loss"])


def test_verbose_prints_each_epochs_record(tiny_bert: Path, corpus, capsys) -> None:
    texts, labels = corpus
    tiny_classifier(tiny_bert, epochs=2, verbose=1).fit(texts, labels)
    out = capsys.readouterr().out
    assert "epoch=1 train_loss=" in out and "epoch=2 train_loss=" in out
    tiny_classifier(tiny_bert, epochs=2, verbose=False).fit(texts, labels)
    captured = capsys.readouterr()
    assert captured.out == "" and "epoch" not in captured.err


def test_count_correct_single_and_multilabel() -> None:
    logits = torch.tensor([[2.0, 0.1, -1.0], [0.0, 3.0, 1.0], [0.0, 0.0, 5.0]])
    assert count_correct(logits, torch.tensor([0, 1, 1])) == 2
    # multi-label: a text counts when every label is on the right side of logit 0
    targets = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 1.0]])
    assert count_correct(logits, targets) == 2


def test_a_multilabel_head_starts_at_the_base_rates() -> None:
    layer = torch.nn.Linear(4, 3)
    labels = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=np.float32)
    start_at_base_rates(layer, labels)
    rates = (labels.sum(axis=0) + 0.5) / (len(labels) + 1.0)
    np.testing.assert_allclose(torch.sigmoid(layer.bias).detach().numpy(), rates, rtol=1e-6)
