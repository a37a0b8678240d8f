"""Contrastive tuning: pairs of texts, the encoder pulled together by label, then the head."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from topicbert import BertTopicClassifier, PretrainedBackbone
from topicbert._contrastive import (
    check_pairs_possible,
    draw_pairs,
    pair_agreement_loss,
    pair_vectors,
)

from .conftest import make_corpus, tiny_classifier

LABELS = np.array([0, 0, 0, 1, 1, 2, 2, 2])


def test_each_iteration_draws_a_positive_and_a_negative_per_text() -> None:
    first, second, target = draw_pairs(LABELS, 3, np.random.RandomState(0))
    assert len(target) == 2 * 3 * len(LABELS)
    assert (first != second).all()
    same = LABELS[first] == LABELS[second]
    assert (same == (target == 1.0)).all()
    assert target.sum() == 3 * len(LABELS)
    again = draw_pairs(LABELS, 3, np.random.RandomState(0))
    assert all((a == b).all() for a, b in zip(again, (first, second, target), strict=True))


def test_label_set_pairs_share_a_label_or_none() -> None:
    sets = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]], dtype=np.float32)
    first, second, target = draw_pairs(sets, 4, np.random.RandomState(1))
    shared = (sets[first] * sets[second]).sum(axis=1) > 0
    assert (shared == (target == 1.0)).all()
    assert target.sum() > 0 and (target == 0).sum() > 0


def test_a_label_with_one_text_is_refused_by_name() -> None:
    classes = np.array(["sport", "tech", "arts"])
    with pytest.raises(ValueError, match="'arts' has one"):
        check_pairs_possible(np.array([0, 0, 1, 1, 2]), classes)
    with pytest.raises(ValueError, match="two texts that share a label"):
        check_pairs_possible(np.eye(3, dtype=np.float32), classes)


def test_a_batch_of_pairs_encodes_each_distinct_text_once_with_the_same_gradient(
    tiny_bert: Path, few
) -> None:
    texts, labels = few
    model = tiny_classifier(tiny_bert, training="head").fit(texts, labels)
    network, documents = model.model_, model._tokenize(model.tokenizer_, texts)
    network.eval()  # no dropout: the two ways must agree exactly
    network.requires_grad_(True)
    first, second = np.array([0, 1, 2, 0, 3]), np.array([1, 2, 0, 3, 1])
    target = torch.tensor([1.0, 0.0, 1.0, 0.0, 1.0])
    encoded: list[int] = []
    pool = network.pool

    def counting_pool(input_ids, attention_mask, doc_index):  # type: ignore[no-untyped-def]
        encoded.append(len(input_ids))
        return pool(input_ids, attention_mask, doc_index)

    def loss_and_gradient(left: torch.Tensor, right: torch.Tensor) -> tuple[float, torch.Tensor]:
        loss = ((torch.nn.functional.cosine_similarity(left, right) - target) ** 2).sum()
        network.zero_grad(set_to_none=True)
        loss.backward()
        grads = [p.grad.flatten() for p in network.encoder.parameters() if p.grad is not None]
        return float(loss.detach()), torch.cat(grads)

    network.pool = counting_pool  # type: ignore[method-assign]
    shared_loss, shared_gradient = loss_and_gradient(
        *pair_vectors(network, documents, first, second, model.tokenizer_.pad_token_id)
    )
    assert encoded == [4]  # texts 0-3 once each, not 10 encodings

    def apart(indices: np.ndarray) -> torch.Tensor:
        from topicbert._token_batches import collate

        device = network.classifier.weight.device
        return pool(*collate(documents, indices, model.tokenizer_.pad_token_id, device)).float()

    apart_loss, apart_gradient = loss_and_gradient(apart(first), apart(second))
    assert shared_loss == pytest.approx(apart_loss, rel=1e-5)
    torch.testing.assert_close(shared_gradient, apart_gradient, rtol=1e-4, atol=1e-6)


def test_contrastive_fit_refuses_a_label_with_one_text_before_any_work(
    tiny_bert: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_loading(self: PretrainedBackbone) -> None:
        raise AssertionError("the tokenizer was loaded before the labels were checked")

    monkeypatch.setattr(PretrainedBackbone, "load_tokenizer", no_loading)
    texts = ["goal match team", "cup win league", "bank shares market"]
    with pytest.raises(ValueError, match="'business' has one"):
        tiny_classifier(tiny_bert, training="contrastive").fit(
            texts, ["sport", "sport", "business"]
        )


def pair_gap(model: BertTopicClassifier, texts: list[str], labels: list[str]) -> float:
    """Mean cosine similarity of same-label pairs minus that of different-label pairs."""
    from topicbert._inference import embed

    documents = model._tokenize(model.tokenizer_, texts)
    vectors = embed(model.model_, documents, model._inference_settings(None, verbose=False))
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    similarity = unit @ unit.T
    y = np.asarray(labels)
    same = (y[:, None] == y[None, :]) & ~np.eye(len(y), dtype=bool)
    different = y[:, None] != y[None, :]
    return float(similarity[same].mean() - similarity[different].mean())


@pytest.fixture(scope="module")
def few() -> tuple[list[str], list[str]]:
    return make_corpus(8, seed=5)  # 8 texts per topic


def test_contrastive_training_pulls_texts_of_a_label_together(tiny_bert: Path, few) -> None:
    texts, labels = few
    head = tiny_classifier(tiny_bert, training="head").fit(texts, labels)
    tuned = tiny_classifier(tiny_bert, training="contrastive", contrastive_learning_rate=1e-3).fit(
        texts, labels
    )
    assert pair_gap(tuned, texts, labels) > pair_gap(head, texts, labels) + 0.05
    record = tuned.history_[-1]
    assert record["pairs"] == 2 * 20 * len(texts) and record["pair_loss"] > 0
    assert "train_accuracy" in record and "C" in record
    held_texts, held_labels = make_corpus(10, seed=6)
    assert tuned.score(held_texts, held_labels) >= 0.8


def test_contrastive_training_on_label_sets_pulls_texts_sharing_a_label_together(
    tiny_bert: Path,
) -> None:
    from .test_multilabel import make_multilabel_corpus

    texts, sets = make_multilabel_corpus(40, seed=3)
    head = tiny_classifier(tiny_bert, training="head").fit(texts, sets)
    tuned = tiny_classifier(
        tiny_bert,
        training="contrastive",
        contrastive_learning_rate=1e-3,
        contrastive_iterations=10,
    ).fit(texts, sets)
    assert tuned.target_kind_ == "collections" and tuned.training_ == "contrastive"
    first = [labels[0] for labels in sets]  # every set's first topic stands for it here
    assert pair_gap(tuned, texts, first) > pair_gap(head, texts, first) + 0.05
    predicted = tuned.predict(make_multilabel_corpus(10, seed=4)[0])
    assert all(isinstance(row, tuple) for row in predicted)


def test_contrastive_training_pairs_the_descriptions_with_the_texts(tiny_bert: Path, few) -> None:
    texts, labels = few
    descriptions = {label: f"{label} news" for label in sorted(set(labels))}
    settings = {"training": "contrastive", "contrastive_iterations": 5}
    plain = tiny_classifier(tiny_bert, **settings).fit(texts, labels)
    described = tiny_classifier(tiny_bert, descriptions=descriptions, **settings).fit(texts, labels)
    # one more training example per label, each paired twice per iteration
    extra = 2 * 5 * len(descriptions)
    assert described.history_[-1]["pairs"] == plain.history_[-1]["pairs"] + extra
    assert not np.allclose(described.predict_proba(texts), plain.predict_proba(texts))


def test_held_out_pairs_weigh_agreeing_and_differing_pairs_alike() -> None:
    held_out = np.array([[1.0, 0.0]])
    # one training text of its label, at similarity 1 (no error); three of another
    # label, also at similarity 1 (error 1 each): (0 + 1) / 2, not 3 / 4
    training = np.array([[2.0, 0.0], [1.0, 0.0], [3.0, 0.0], [0.5, 0.0]])
    assert pair_agreement_loss(held_out, np.array([0]), training, np.array([0, 1, 1, 1])) == 0.5
    apart = np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    assert pair_agreement_loss(held_out, np.array([0]), apart, np.array([0, 1, 1])) == 0.0
    sets = np.array([[1, 1, 0]], dtype=np.float32)
    others = np.array([[0, 1, 0], [0, 0, 1]], dtype=np.float32)  # shares one label, then none
    # the text sharing a label at similarity 0, the other at 1: both wholly wrong
    assert pair_agreement_loss(held_out, sets, np.array([[0.0, 1.0], [1.0, 0.0]]), others) == 1.0


def scripted_checks(monkeypatch: pytest.MonkeyPatch, losses: list[float]) -> list[dict]:
    """Replace the held-out score by ``losses`` in turn; return the encoder at each check."""
    import topicbert._contrastive as contrastive

    encoders: list[dict] = []

    def held_out_loss(model, stopping, documents, labels, world_size=1):  # type: ignore[no-untyped-def]
        encoders.append({k: v.clone() for k, v in model.encoder.state_dict().items()})
        return losses[len(encoders) - 1]

    monkeypatch.setattr(contrastive, "held_out_loss", held_out_loss)
    return encoders


def test_contrastive_early_stopping_keeps_the_encoder_of_the_best_check(
    tiny_bert: Path, few, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts, labels = few
    encoders = scripted_checks(monkeypatch, [1.0, 0.9, 0.5, 0.6, 0.7, 0.1, 0.1])
    model = tiny_classifier(
        tiny_bert, training="contrastive", early_stopping=True, validation_fraction=0.25
    ).fit(texts, labels)
    # the start, then each tenth; stopped two checks after the best (the third)
    assert len(encoders) == 5
    record = model.history_[-1]
    pairs_per_tenth = record["pairs"] / 10
    assert record["valid_pair_loss"] == 0.5
    assert record["best_pairs"] == pytest.approx(2 * pairs_per_tenth, abs=model.batch_size)
    assert record["pairs_trained"] == pytest.approx(4 * pairs_per_tenth, abs=model.batch_size)
    assert "valid_accuracy" in record  # the head is still scored on the held-out texts
    kept = model.model_.encoder.state_dict()
    assert all(torch.equal(kept[k], encoders[2][k]) for k in kept)
    assert not all(torch.equal(kept[k], encoders[4][k]) for k in kept)


def test_contrastive_early_stopping_keeps_the_untuned_encoder_if_pairs_never_help(
    tiny_bert: Path, few, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts, labels = few
    scripted_checks(monkeypatch, [0.1, 0.2, 0.3])
    settings = {"early_stopping": True, "validation_fraction": 0.25}
    model = tiny_classifier(tiny_bert, training="contrastive", **settings).fit(texts, labels)
    head = tiny_classifier(tiny_bert, training="head", **settings).fit(texts, labels)
    assert model.history_[-1]["best_pairs"] == 0
    for tuned, untouched in zip(
        model.model_.encoder.parameters(), head.model_.encoder.parameters(), strict=True
    ):
        assert torch.equal(tuned, untouched)


def test_contrastive_early_stopping_scores_real_held_out_texts(tiny_bert: Path, few) -> None:
    texts, labels = few
    model = tiny_classifier(
        tiny_bert,
        training="contrastive",
        contrastive_learning_rate=1e-3,
        early_stopping=True,
        validation_fraction=0.25,
    ).fit(texts, labels)
    record = model.history_[-1]
    assert 0 <= record["valid_pair_loss"] < 1
    assert record["best_pairs"] <= record["pairs_trained"] <= record["pairs"]
    plain = tiny_classifier(tiny_bert, training="contrastive").fit(texts, labels)
    assert "valid_pair_loss" not in plain.history_[-1]


def test_a_contrastive_model_saves_loads_and_pickles(tiny_bert: Path, few, tmp_path: Path) -> None:
    texts, labels = few
    model = tiny_classifier(tiny_bert, training="contrastive").fit(texts, labels)
    expected = model.predict_proba(texts)
    loaded = BertTopicClassifier.load(model.save(tmp_path / "m"), device="cpu")
    assert loaded.training == "contrastive"
    np.testing.assert_allclose(loaded.predict_proba(texts), expected, atol=1e-6)
    copied = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(copied.predict_proba(texts), expected, atol=1e-6)


def test_the_same_seed_gives_the_same_contrastive_model(tiny_bert: Path, few) -> None:
    texts, labels = few
    first = tiny_classifier(tiny_bert, training="contrastive").fit(texts, labels)
    second = tiny_classifier(tiny_bert, training="contrastive").fit(texts, labels)
    for a, b in zip(first.model_.parameters(), second.model_.parameters(), strict=True):
        assert torch.equal(a, b)


def test_freeze_backbone_warns_and_trains_the_head(tiny_bert: Path, few) -> None:
    texts, labels = few
    with pytest.warns(FutureWarning, match="use training='head'"):
        old = tiny_classifier(tiny_bert, freeze_backbone=True).fit(texts, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = tiny_classifier(tiny_bert, training="head").fit(texts, labels)
    np.testing.assert_array_equal(old.predict_proba(texts), new.predict_proba(texts))
    with pytest.raises(ValueError, match="freeze_backbone=True and training='contrastive'"):
        tiny_classifier(tiny_bert, freeze_backbone=True, training="contrastive").fit(texts, labels)


def targets_of(y: list) -> object:
    from topicbert._targets import encode_targets

    return encode_targets(y, len(y), labels=None)


@pytest.mark.parametrize(
    ("per_label", "expected"),
    [
        ([8, 8, 8], "contrastive"),
        ([2, 32, 40], "contrastive"),  # the median label has 32
        ([2, 33, 40], "full"),
        ([1, 8, 8], "full"),  # a label with one text makes no positive pair
        ([400, 400, 8], "full"),
    ],
)
def test_auto_training_follows_the_labelled_texts_per_label(per_label, expected) -> None:
    from topicbert._fitting import resolve_training

    y = [f"topic {i}" for i, n in enumerate(per_label) for _ in range(n)]
    assert resolve_training("auto", targets_of(y)) == expected
    for given in ("full", "contrastive", "head"):
        assert resolve_training(given, targets_of(y)) == given


def test_auto_training_fine_tunes_label_sets_however_few() -> None:
    from topicbert._fitting import resolve_training

    few = [("a", "b")] * 5 + [("c",)] * 5
    assert resolve_training("auto", targets_of(few)) == "full"
    assert resolve_training("contrastive", targets_of(few)) == "contrastive"


def test_auto_training_runs_contrastive_on_few_texts_and_says_so(
    tiny_bert: Path, few, tmp_path: Path
) -> None:
    texts, labels = few
    model = tiny_classifier(tiny_bert, training="auto").fit(texts, labels)
    assert model.training == "auto" and model.training_ == "contrastive"
    assert model.history_[-1]["pairs"] == 2 * 20 * len(texts)
    loaded = BertTopicClassifier.load(model.save(tmp_path / "m"), device="cpu")
    assert loaded.training == "auto" and loaded.training_ == "contrastive"
    np.testing.assert_allclose(loaded.predict_proba(texts), model.predict_proba(texts), atol=1e-6)


def test_auto_training_fine_tunes_on_many_texts(tiny_bert: Path, corpus) -> None:
    texts, labels = corpus  # 40 per label
    model = tiny_classifier(tiny_bert, training="auto", epochs=1).fit(texts, labels)
    assert model.training_ == "full" and "pairs" not in model.history_[-1]


def test_a_model_saved_before_auto_existed_is_read_as_its_parameters_say(
    fitted: BertTopicClassifier, tmp_path: Path
) -> None:
    import json

    directory = fitted.save(tmp_path / "old")
    metadata_file = directory / "topicbert.json"
    metadata = json.loads(metadata_file.read_text())
    assert metadata.pop("training") == "full"
    metadata_file.write_text(json.dumps(metadata))
    assert BertTopicClassifier.load(directory, device="cpu").training_ == "full"
    # a file from before training= existed: fine-tuned, whatever the default is now
    del metadata["params"]["training"]
    metadata_file.write_text(json.dumps(metadata))
    loaded = BertTopicClassifier.load(directory, device="cpu")
    assert loaded.training == "full" and loaded.training_ == "full"


def test_training_is_auto_unless_told() -> None:
    assert BertTopicClassifier().training == "auto"


def test_auto_training_counts_the_texts_left_after_the_validation_split(
    tiny_bert: Path, few
) -> None:
    texts, labels = few
    rare = [i for i, label in enumerate(labels) if label == labels[0]][:2]
    kept = [i for i, label in enumerate(labels) if label != labels[0]] + rare
    texts, labels = [texts[i] for i in kept], [labels[i] for i in kept]
    # two texts of one label: "auto" would pair them, but early stopping holds one out
    model = tiny_classifier(
        tiny_bert, training="auto", early_stopping=True, validation_fraction=0.5, epochs=1
    )
    model.fit(texts, labels)
    assert model.training_ == "full"


def test_a_model_pickled_before_training_existed_predicts_as_fine_tuned(
    fitted: BertTopicClassifier, held_out
) -> None:
    import pickle

    state = pickle.loads(pickle.dumps(fitted)).__dict__.copy()
    del state["training"], state["training_"]  # neither attribute existed then
    old = BertTopicClassifier.__new__(BertTopicClassifier)
    old.__setstate__(state)
    assert old._training_mode() == "full"
    np.testing.assert_allclose(
        old.predict_proba(held_out[0]), fitted.predict_proba(held_out[0]), atol=1e-6
    )
