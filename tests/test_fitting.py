"""The fit's plumbing: one frozen set of choices, the split, class weights, the head's start."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from topicbert import BertTopicClassifier
from topicbert._fingerprints import text_hashes
from topicbert._fitting import (
    FitSettings,
    check_tokenizer,
    class_weights,
    prepare,
    resolved_head_init,
    split,
    training_settings,
)
from topicbert._persistence import TRAINING_TEXTS_FILE
from topicbert._targets import encode_targets

from .conftest import tiny_classifier


def single(labels: list[str]):
    return encode_targets(labels, len(labels), labels=None, multilabel="auto")


def test_no_split_unless_one_is_needed() -> None:
    train, valid = split(single(["a", "b"] * 5), 0, validation_fraction=0.2, needed=False)
    assert train.tolist() == list(range(10)) and valid is None


def test_the_split_is_stratified_sorted_and_seeded() -> None:
    targets = single(["a"] * 12 + ["b"] * 8)
    train, valid = split(targets, 3, validation_fraction=0.25, needed=True)
    assert valid is not None and len(valid) == 5 and len(train) == 15
    assert sorted(set(train) | set(valid)) == list(range(20))
    assert (np.diff(train) > 0).all() and (np.diff(valid) > 0).all()
    assert set(targets.encoded[valid].tolist()) == {0, 1}  # both classes held out
    again = split(targets, 3, validation_fraction=0.25, needed=True)
    assert again[1] is not None and again[1].tolist() == valid.tolist()


def test_a_split_that_leaves_nothing_to_train_on_is_refused() -> None:
    with pytest.raises(ValueError, match="leaves no training texts"):
        split(single(["a", "b"]), 0, validation_fraction=0.9, needed=True)


def test_a_tokenizer_without_padding_is_refused() -> None:
    class NoPad:
        pad_token_id = None

    with pytest.raises(ValueError, match="has no padding token"):
        check_tokenizer(NoPad(), "gpt-like")


def test_head_init_auto_probes_label_sets_only() -> None:
    assert resolved_head_init("auto", multilabel=True) == "probe"
    assert resolved_head_init("auto", multilabel=False) == "random"
    assert resolved_head_init("random", multilabel=True) == "random"


def test_training_settings_stop_early_only_when_asked() -> None:
    assert training_settings(BertTopicClassifier(), multilabel=False).n_iter_no_change is None
    settings = training_settings(
        BertTopicClassifier(early_stopping=True, n_iter_no_change=4), multilabel=True
    )
    assert settings.n_iter_no_change == 4 and settings.multilabel


def test_prepare_makes_every_choice_once_and_the_same_for_the_same_seed(
    tiny_bert: Path, corpus
) -> None:
    texts, labels = corpus
    estimator = tiny_classifier(tiny_bert, early_stopping=True, validation_fraction=0.25)
    fit = prepare(estimator, texts, labels)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fit.seed = 1  # type: ignore[misc]
    assert len(fit.documents) == len(texts) and not fit.multilabel
    assert fit.valid_index is not None and len(fit.valid_index) == len(texts) // 4
    again = prepare(estimator, texts, labels)
    assert again.seed == fit.seed and again.valid_index.tolist() == fit.valid_index.tolist()
    assert again.draw_seed() == fit.draw_seed()  # the same stream of random numbers
    other = prepare(tiny_classifier(tiny_bert, random_state=1), texts, labels)
    assert other.seed != fit.seed and other.valid_index is None


def test_prepare_checks_the_abstain_label_before_any_work(tiny_bert: Path, corpus) -> None:
    texts, labels = corpus
    estimator = tiny_classifier(tiny_bert, min_confidence=0.5, abstain_label=labels[0])
    with pytest.raises(ValueError, match="is one of the labels"):
        prepare(estimator, texts, labels)


def test_balanced_class_weights_come_from_the_training_part(tiny_bert: Path, corpus) -> None:
    texts, _ = corpus
    labels = ["sport"] * (len(texts) - 10) + ["tech"] * 10
    fit: FitSettings = prepare(tiny_classifier(tiny_bert), texts, labels)
    assert class_weights(None, fit) is None
    weights = class_weights("balanced", fit)
    assert isinstance(weights, torch.Tensor)
    n = len(texts)
    expected = [n / (2 * (n - 10)), n / (2 * 10)]
    assert weights.tolist() == pytest.approx(expected)


def test_a_fitted_model_keeps_hashes_of_its_training_texts(
    fitted, corpus, saved_model_dir: Path
) -> None:
    texts, _ = corpus
    assert fitted.training_text_hashes_.tolist() == text_hashes(texts).tolist()
    assert (saved_model_dir / TRAINING_TEXTS_FILE).is_file()
    loaded = BertTopicClassifier.load(saved_model_dir, device="cpu")
    assert loaded.training_text_hashes_.tolist() == fitted.training_text_hashes_.tolist()
    copied = pickle.loads(pickle.dumps(fitted))
    assert copied.training_text_hashes_.tolist() == fitted.training_text_hashes_.tolist()


def test_a_model_saved_without_text_hashes_still_loads(fitted, tmp_path: Path) -> None:
    directory = fitted.save(tmp_path / "model")
    (directory / TRAINING_TEXTS_FILE).unlink()
    assert BertTopicClassifier.load(directory, device="cpu").training_text_hashes_ is None
