"""The frozen-backbone path (``topicbert._frozen_head``): cached vectors, a linear head."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from transformers import AutoModel, AutoTokenizer

import topicbert
from topicbert._frozen_head import (
    C_GRID,
    _fit_multiclass_head,
    _fold_into,
    _logistic_regressions,
    fit_multilabel_head,
    head_logits,
)

from .conftest import tiny_classifier


class CountingBackbone:
    """The tiny BERT, counting the texts its encoder sees."""

    name = "counting"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.rows_seen = 0

    def load_tokenizer(self):
        return AutoTokenizer.from_pretrained(self.directory)

    def load_encoder(self):
        encoder = AutoModel.from_pretrained(self.directory)

        def count(module, args, kwargs) -> None:
            self.rows_seen += kwargs["input_ids"].shape[0]

        encoder.register_forward_pre_hook(count, with_kwargs=True)
        return encoder


def test_frozen_backbone_encodes_each_text_once_and_keeps_its_weights(
    tiny_bert: Path, corpus, held_out
) -> None:
    texts, labels = corpus
    topicbert.embedding_cache.clear()
    backbone = CountingBackbone(tiny_bert)
    clf = tiny_classifier(tiny_bert, backbone=backbone, training="head", epochs=50)
    clf.fit(texts, labels)
    assert backbone.rows_seen == len(texts)
    original = load_file(str(tiny_bert / "model.safetensors"))
    for name, value in clf.model_.encoder.state_dict().items():
        torch.testing.assert_close(value, original[name], msg=name)
    [record] = clf.history_
    assert record["C"] > 0 and record["train_accuracy"] >= 0.9
    assert clf.score(*held_out) >= 0.8
    # a refit, a clone or predictions on seen texts reuse the cached vectors
    seen = backbone.rows_seen
    clf.fit(texts[:60], labels[:60])
    clf.predict_proba(texts)
    assert backbone.rows_seen == seen
    unseen = [text + " Again." for text in held_out[0]]
    clf.predict_proba(unseen)
    assert backbone.rows_seen == seen + len(unseen)


def test_frozen_head_equals_the_logistic_regression_it_was_fitted_as(
    tiny_bert: Path, corpus
) -> None:
    texts, labels = corpus
    clf = tiny_classifier(tiny_bert, training="head").fit(texts, labels)
    from topicbert._inference import InferenceSettings, embed

    settings = InferenceSettings(16, clf.tokenizer_.pad_token_id, clf.device_, None)
    features = embed(clf.model_, clf._tokenize(clf.tokenizer_, texts), settings)
    features = features.astype(np.float64)
    mean, scale = features.mean(axis=0), features.std(axis=0)
    scale[scale == 0] = 1.0
    reference = LogisticRegression(C=clf.history_[0]["C"], max_iter=2000)
    reference.fit((features - mean) / scale, labels)
    np.testing.assert_allclose(
        clf.predict_proba(texts), reference.predict_proba((features - mean) / scale), atol=1e-4
    )


def test_dimensions_that_barely_vary_are_left_out_of_the_frozen_head(
    tiny_bert: Path, corpus, tmp_path: Path
) -> None:
    # Like MiniLM, whose pooled vectors have a dimension at 1e-33: the last
    # LayerNorm scales two dimensions to (almost) nothing.
    encoder = AutoModel.from_pretrained(str(tiny_bert))
    with torch.no_grad():
        norm = encoder.encoder.layer[-1].output.LayerNorm
        norm.weight[:2] = torch.tensor([1e-30, 1e-8])
        norm.bias[:2] = 0.0
    encoder.save_pretrained(str(tmp_path))
    AutoTokenizer.from_pretrained(str(tiny_bert)).save_pretrained(str(tmp_path))
    texts, labels = corpus
    clf = tiny_classifier(tmp_path, training="head").fit(texts, labels)
    weight = clf.model_.classifier.weight.detach()
    assert torch.all(weight[:, :2] == 0)
    assert weight.abs().max() < 100
    # the same model runs its head through the encoder's forward pass too
    # (fine-tuning from it, ONNX): there its logits must be the same
    from topicbert._inference import InferenceSettings, predict_logits

    settings = InferenceSettings(16, clf.tokenizer_.pad_token_id, clf.device_, torch.bfloat16)
    through_forward = predict_logits(clf.model_, clf._tokenize(clf.tokenizer_, texts), settings)
    np.testing.assert_allclose(
        torch.softmax(torch.as_tensor(through_forward), dim=1).numpy(),
        clf.predict_proba(texts),
        atol=0.02,
    )


def test_frozen_backbone_with_two_classes_and_an_absent_label(tiny_bert: Path, corpus) -> None:
    texts, labels = corpus
    keep = [i for i, label in enumerate(labels) if label in ("sport", "business")]
    texts2, labels2 = [texts[i] for i in keep], [labels[i] for i in keep]
    clf = tiny_classifier(tiny_bert, training="head", labels=["business", "sport", "weather"]).fit(
        texts2, labels2
    )
    proba = clf.predict_proba(texts2)
    assert proba.shape == (len(texts2), 3)
    assert proba[:, 2].max() < 1e-6
    assert clf.score(texts2, labels2) >= 0.9


def test_frozen_backbone_reports_validation_and_survives_a_pickle(tiny_bert: Path, corpus) -> None:
    import pickle

    texts, labels = corpus
    clf = tiny_classifier(
        tiny_bert, training="head", early_stopping=True, class_weight="balanced"
    ).fit(texts, labels)
    assert {"valid_loss", "valid_accuracy"} <= set(clf.history_[0])
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(restored.predict_proba(texts), clf.predict_proba(texts), atol=1e-6)


def test_the_multilabel_head_is_one_logistic_regression_per_label() -> None:
    from sklearn.linear_model import LogisticRegression

    from topicbert._frozen_head import _logistic_regressions

    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 12))
    targets = (x @ rng.standard_normal((12, 4)) + rng.standard_normal((300, 4)) > 1).astype(float)
    coef, intercept = _logistic_regressions(x, targets, 0.5, None)
    ours = 1 / (1 + np.exp(-(x @ coef.T + intercept)))
    for label in range(4):
        reference = LogisticRegression(C=0.5, tol=1e-8, max_iter=5000).fit(x, targets[:, label])
        np.testing.assert_allclose(ours[:, label], reference.predict_proba(x)[:, 1], atol=2e-3)


def test_head_logits_are_the_linear_layer_in_float64() -> None:
    layer = torch.nn.Linear(5, 3)
    vectors = np.random.default_rng(0).standard_normal((7, 5)).astype(np.float32)
    logits = head_logits(layer, vectors)
    assert logits.dtype == np.float64
    with torch.no_grad():
        expected = layer.double()(torch.as_tensor(vectors, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(logits, expected, rtol=1e-12)


def test_folding_the_scaler_into_the_layer_keeps_the_regressions_logits() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(5.0, 3.0, size=(20, 4))
    mean, scale = x.mean(axis=0), x.std(axis=0)
    coef, intercept = rng.standard_normal((3, 4)), rng.standard_normal(3)
    layer = torch.nn.Linear(4, 3).double()
    _fold_into(layer, coef, intercept, mean, scale)
    np.testing.assert_allclose(
        head_logits(layer, x), ((x - mean) / scale) @ coef.T + intercept, rtol=1e-10
    )


def test_the_multiclass_head_chooses_c_by_cross_validation_and_covers_absent_classes() -> None:
    rng = np.random.default_rng(2)
    y = np.repeat([0, 2], 30)  # class 1 of 3 never occurs
    x = rng.standard_normal((60, 3)) + y[:, None]
    coef, intercept, chosen_c = _fit_multiclass_head(x, y, 3, balanced=False, seed=0)
    assert chosen_c in C_GRID.tolist()
    assert coef.shape == (3, 3) and np.all(coef[1] == 0)
    assert intercept[1] < intercept[[0, 2]].min() - 29  # the absent class stays improbable
    reference = LogisticRegression(C=chosen_c, max_iter=2000).fit(x, y)
    logits = x @ coef.T + intercept
    proba = np.exp(logits - logits.max(axis=1, keepdims=True))
    proba /= proba.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(proba[:, [0, 2]], reference.predict_proba(x), atol=1e-6)


def test_the_multilabel_head_returns_out_of_fold_probabilities() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((60, 6))
    targets = (x[:, :2] + 0.5 * rng.standard_normal((60, 2)) > 0).astype(float)
    coef, intercept, chosen_c, out_of_fold = fit_multilabel_head(x, targets, balanced=False, seed=7)
    assert chosen_c in C_GRID.tolist() and coef.shape == (2, 6)
    # each text's probabilities come from a head fitted without it, at the chosen C
    expected = np.zeros(targets.shape)
    for fit_rows, held_rows in KFold(5, shuffle=True, random_state=7).split(x):
        fold_coef, fold_intercept = _logistic_regressions(
            x[fit_rows], targets[fit_rows], chosen_c, None
        )
        expected[held_rows] = x[held_rows] @ fold_coef.T + fold_intercept
    # the same optimum to the solver's tolerance (the fold was fitted along the C path)
    np.testing.assert_allclose(out_of_fold, 1 / (1 + np.exp(-expected)), atol=2e-3)
    in_sample = 1 / (1 + np.exp(-(x @ coef.T + intercept)))
    assert not np.allclose(out_of_fold, in_sample, atol=1e-3)


def test_the_multilabel_search_follows_the_c_path_from_each_previous_solution(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from topicbert import _frozen_head

    rng = np.random.default_rng(5)
    x = rng.standard_normal((40, 3))
    targets = (x[:, :2] > 0).astype(float)
    real = _frozen_head._logistic_regressions
    calls: list[tuple[int, Any, Any]] = []

    def recording(rows_x: np.ndarray, *args: Any) -> tuple[np.ndarray, np.ndarray]:
        result = real(rows_x, *args)
        calls.append((len(rows_x), args[-1], result))
        return result

    monkeypatch.setattr(_frozen_head, "_logistic_regressions", recording)
    fit_multilabel_head(x, targets, balanced=False, seed=0)
    folds = 5
    assert len(calls) == folds * len(C_GRID) + 1
    for position, (_, start, _) in enumerate(calls[:-1]):
        if position < folds:  # the strongest C starts from zero weights
            assert start is None
        else:  # then each fold starts where it stopped at the previous C
            previous = calls[position - folds][2]
            assert all(a is b for a, b in zip(start, previous, strict=True))
    final_rows, final_start, _ = calls[-1]
    assert final_rows == len(x) and final_start is not None


def test_the_multilabel_regressions_reach_one_optimum_from_any_start() -> None:
    rng = np.random.default_rng(6)
    x = rng.standard_normal((120, 5))
    targets = (x[:, :3] + rng.standard_normal((120, 3)) > 0.5).astype(float)
    cold = _logistic_regressions(x, targets, 0.3, None)
    elsewhere = (rng.standard_normal((3, 5)), rng.standard_normal(3))
    warm = _logistic_regressions(x, targets, 0.3, None, elsewhere)
    np.testing.assert_allclose(
        1 / (1 + np.exp(-(x @ warm[0].T + warm[1]))),
        1 / (1 + np.exp(-(x @ cold[0].T + cold[1]))),
        atol=1e-3,  # the solver's gradient tolerance, as against scikit-learn above
    )


def test_a_balanced_multilabel_head_weighs_a_rare_labels_positives_up() -> None:
    rng = np.random.default_rng(4)
    x = rng.standard_normal((80, 4))
    targets = np.zeros((80, 1))
    targets[:8, 0] = 1.0  # one positive in ten
    x[:8, 0] += 1.0
    plain = fit_multilabel_head(x, targets, balanced=False, seed=0)
    balanced = fit_multilabel_head(x, targets, balanced=True, seed=0)
    plain_mean = 1 / (1 + np.exp(-(x @ plain[0].T + plain[1])))
    balanced_mean = 1 / (1 + np.exp(-(x @ balanced[0].T + balanced[1])))
    assert balanced_mean.mean() > plain_mean.mean() + 0.1
