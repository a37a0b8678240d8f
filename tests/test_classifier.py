"""BertTopicClassifier on a tiny random BERT: the scikit-learn contract and the API."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.ensemble import StackingClassifier, VotingClassifier
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils import estimator_checks

from topicbert import BertTopicClassifier, Callback, ModelLoadError

from .conftest import tiny_classifier

SKLEARN_CHECKS = [
    "check_no_attributes_set_in_init",
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
    "check_estimator_cloneable",
    "check_estimator_repr",
    "check_estimators_unfitted",
]


@pytest.mark.parametrize("check", SKLEARN_CHECKS)
def test_sklearn_api_checks(check: str, tiny_bert: Path) -> None:
    getattr(estimator_checks, check)("BertTopicClassifier", tiny_classifier(tiny_bert))


def test_tags_declare_text_input() -> None:
    tags = BertTopicClassifier().__sklearn_tags__()
    assert tags.input_tags.string
    assert not tags.input_tags.two_d_array
    assert tags.estimator_type == "classifier"


def test_fit_does_not_touch_public_parameters(tiny_bert: Path, corpus) -> None:
    # the text-input version of sklearn's check_dont_overwrite_parameters
    clf = tiny_classifier(tiny_bert, epochs=1, callbacks=[Callback()])
    before = dict(clf.__dict__)
    clf.fit(*corpus)
    added = [k for k in clf.__dict__ if k not in before and not k.endswith("_")]
    changed = [k for k in before if clf.__dict__[k] is not before[k]]
    assert added == [] and changed == []


def test_fit_returns_self_and_score_takes_y(tiny_bert: Path, corpus) -> None:
    clf = tiny_classifier(tiny_bert, epochs=1)
    assert clf.fit(*corpus) is clf
    texts, labels = corpus
    predicted = clf.predict(texts)
    assert clf.score(texts, labels) == pytest.approx(np.mean(predicted == np.asarray(labels)))
    # y is what the predictions are scored against: other labels give another score
    shifted = [{"business": "sport", "sport": "tech", "tech": "business"}[y] for y in labels]
    assert clf.score(texts, shifted) == pytest.approx(np.mean(predicted == np.asarray(shifted)))
    assert clf.score(texts, shifted) != pytest.approx(clf.score(texts, labels))
    # and sample_weight weighs each text
    weights = np.where(predicted == np.asarray(labels), 1.0, 3.0)
    expected = np.average(predicted == np.asarray(labels), weights=weights)
    assert clf.score(texts, labels, sample_weight=weights) == pytest.approx(expected)


def test_predict_proba_rows_sum_to_one_in_classes_order(fitted, held_out) -> None:
    texts, _ = held_out
    proba = fitted.predict_proba(texts)
    assert proba.shape == (len(texts), 3)
    assert proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert list(fitted.classes_) == ["business", "sport", "tech"]
    np.testing.assert_array_equal(fitted.predict(texts), fitted.classes_[proba.argmax(axis=1)])


def test_learns_the_synthetic_topics(fitted, held_out) -> None:
    # the tiny model separates three topics with distinct words
    assert fitted.score(*held_out) >= 0.9


def test_history_has_one_record_per_epoch(fitted) -> None:
    assert [r["epoch"] for r in fitted.history_] == [1.0, 2.0, 3.0, 4.0]
    assert {"train_loss", "train_accuracy", "seconds"} <= set(fitted.history_[0])
    assert fitted.history_[-1]["train_loss"] < fitted.history_[0]["train_loss"]


@pytest.mark.parametrize(
    "make_input",
    [list, tuple, np.asarray, pd.Series, lambda x: np.asarray(x, dtype=object)],
    ids=["list", "tuple", "ndarray", "series", "object-array"],
)
def test_accepts_common_containers(fitted, held_out, make_input) -> None:
    texts, _ = held_out
    np.testing.assert_allclose(
        fitted.predict_proba(make_input(texts)), fitted.predict_proba(texts), atol=1e-6
    )


def test_integer_labels_come_back_as_integers(tiny_bert: Path, corpus) -> None:
    texts, labels = corpus
    codes = {"business": 10, "sport": 20, "tech": 30}
    clf = tiny_classifier(tiny_bert, epochs=1).fit(texts, [codes[y] for y in labels])
    assert clf.classes_.tolist() == [10, 20, 30]
    predicted = clf.predict(texts[:3])
    assert predicted.dtype.kind == "i"
    assert isinstance(predicted.tolist()[0], int)


def test_labels_parameter_sets_order_and_may_list_unseen_labels(tiny_bert: Path, corpus) -> None:
    texts, labels = corpus
    order = ["tech", "sport", "business", "politics"]
    clf = tiny_classifier(tiny_bert, epochs=1, labels=order).fit(texts, labels)
    assert clf.classes_.tolist() == order
    assert clf.predict_proba(texts[:2]).shape == (2, 4)


def test_same_random_state_gives_identical_probabilities(tiny_bert: Path, corpus, held_out) -> None:
    first = tiny_classifier(tiny_bert, epochs=2, random_state=7).fit(*corpus)
    second = tiny_classifier(tiny_bert, epochs=2, random_state=7).fit(*corpus)
    other = tiny_classifier(tiny_bert, epochs=2, random_state=8).fit(*corpus)
    np.testing.assert_array_equal(
        first.predict_proba(held_out[0]), second.predict_proba(held_out[0])
    )
    assert not np.array_equal(first.predict_proba(held_out[0]), other.predict_proba(held_out[0]))


def test_fitting_leaves_the_global_torch_seed_alone(tiny_bert: Path, corpus) -> None:
    import torch

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    tiny_classifier(tiny_bert, epochs=1).fit(*corpus)
    np.testing.assert_array_equal(torch.rand(3).numpy(), expected.numpy())


def test_callbacks_are_called_in_order(tiny_bert: Path, corpus) -> None:
    class Recorder(Callback):
        def __init__(self) -> None:
            self.events: list[str] = []

        def on_train_begin(self, estimator) -> None:
            self.events.append("begin")

        def on_epoch_end(self, estimator, record) -> None:
            self.events.append(f"epoch{int(record['epoch'])}")

        def on_train_end(self, estimator) -> None:
            self.events.append("end")
            assert hasattr(estimator, "model_")

    recorder = Recorder()
    tiny_classifier(tiny_bert, epochs=2, callbacks=[recorder]).fit(*corpus)
    assert recorder.events == ["begin", "epoch1", "epoch2", "end"]


def test_unfitted_estimator_raises_not_fitted(tiny_bert: Path) -> None:
    clf = tiny_classifier(tiny_bert)
    for method in (clf.predict, clf.predict_proba):
        with pytest.raises(NotFittedError):
            method(["some text"])
    with pytest.raises(NotFittedError):
        clf.save("unused")


def test_clone_is_unfitted_with_equal_params(fitted) -> None:
    copy = clone(fitted)
    assert copy.get_params() == {**fitted.get_params()}
    assert not hasattr(copy, "model_")


def test_pickle_and_joblib_round_trip(fitted, held_out, tmp_path: Path) -> None:
    expected = fitted.predict_proba(held_out[0])
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(restored.predict_proba(held_out[0]), expected, atol=1e-6)
    joblib.dump(fitted, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_allclose(loaded.predict_proba(held_out[0]), expected, atol=1e-6)
    assert loaded.history_ == fitted.history_


def test_pickle_holds_no_torch_module(fitted) -> None:
    payload = pickle.dumps(fitted)
    assert b"torch.nn" not in payload and b"TopicModel" not in payload


def test_unfitted_estimator_pickles(tiny_bert: Path) -> None:
    clf = tiny_classifier(tiny_bert)
    assert pickle.loads(pickle.dumps(clf)).get_params() == clf.get_params()


def test_pipeline_grid_search_and_cross_validation(tiny_bert: Path, corpus) -> None:
    texts, labels = corpus
    pipe = make_pipeline(
        FunctionTransformer(lambda docs: [d.lower() for d in docs]),
        tiny_classifier(tiny_bert, epochs=1),
    )
    search = GridSearchCV(
        pipe, {"berttopicclassifier__learning_rate": [1e-3, 3e-3]}, cv=2, error_score="raise"
    )
    search.fit(texts, labels)
    assert search.best_params_["berttopicclassifier__learning_rate"] in (1e-3, 3e-3)
    assert search.predict(texts[:4]).shape == (4,)
    scores = cross_val_score(tiny_classifier(tiny_bert, epochs=1), texts, labels, cv=2)
    assert scores.shape == (2,)


def test_soft_voting_and_stacking_with_tfidf(tiny_bert: Path, corpus, held_out) -> None:
    # the combinations the benchmark measures: scikit-learn's ensembles around an unchanged
    # estimator, which they fit on label-encoded targets
    texts, labels = corpus
    held_texts, held_labels = held_out

    def tfidf() -> object:
        return make_pipeline(TfidfVectorizer(), LogisticRegression())

    estimators = [("bert", tiny_classifier(tiny_bert)), ("tfidf", tfidf())]
    voting = VotingClassifier(estimators, voting="soft", weights=[0.3, 0.7]).fit(texts, labels)
    bert, words = (voting.named_estimators_[name] for name in ("bert", "tfidf"))
    expected = 0.3 * bert.predict_proba(held_texts) + 0.7 * words.predict_proba(held_texts)
    np.testing.assert_allclose(voting.predict_proba(held_texts), expected, rtol=1e-6)
    assert voting.score(held_texts, held_labels) >= 0.9

    frozen = tiny_classifier(tiny_bert, training="head")
    stacking = StackingClassifier(
        [("bert", frozen), ("tfidf", tfidf())], final_estimator=LogisticRegression(), cv=3
    ).fit(texts, labels)
    assert set(stacking.predict(held_texts)) <= set(labels)
    assert stacking.score(held_texts, held_labels) >= 0.9


def test_save_and_load_round_trip(fitted, held_out, tmp_path: Path) -> None:
    directory = fitted.save(tmp_path / "model")
    names = {p.name for p in directory.iterdir()}
    assert {"model.safetensors", "config.json", "topicbert.json", "tokenizer.json"} <= names
    assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in names)
    loaded = BertTopicClassifier.load(directory, device="cpu")
    np.testing.assert_allclose(
        loaded.predict_proba(held_out[0]), fitted.predict_proba(held_out[0]), atol=1e-6
    )
    assert loaded.get_params()["max_length"] == fitted.max_length
    assert loaded.classes_.tolist() == fitted.classes_.tolist()
    assert loaded.history_ == fitted.history_


def test_saved_encoder_loads_in_transformers(fitted, tmp_path: Path) -> None:
    import torch
    from transformers import AutoModel

    directory = fitted.save(tmp_path / "model")
    encoder = AutoModel.from_pretrained(directory)
    for name, tensor in fitted.model_.encoder.state_dict().items():
        torch.testing.assert_close(encoder.state_dict()[name], tensor)


def test_pooler_model_loads_as_transformers_classifier(tiny_bert: Path, corpus, tmp_path: Path):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    texts, labels = corpus
    clf = tiny_classifier(tiny_bert, epochs=2, pooling="pooler").fit(texts, labels)
    directory = clf.save(tmp_path / "model")
    hf_model = AutoModelForSequenceClassification.from_pretrained(directory).eval()
    tokenizer = AutoTokenizer.from_pretrained(directory)
    batch = tokenizer(texts[:5], truncation=True, max_length=64, padding=True, return_tensors="pt")
    with torch.inference_mode():
        hf_proba = hf_model(**batch).logits.softmax(dim=-1).numpy()
    np.testing.assert_allclose(hf_proba, clf.predict_proba(texts[:5]), atol=1e-5)
    assert hf_model.config.id2label[0] == "business"


def test_refits_do_not_accumulate_memory(tiny_bert: Path, corpus) -> None:
    psutil = pytest.importorskip("psutil")
    process = psutil.Process()
    clf = tiny_classifier(tiny_bert, epochs=1)
    clf.fit(*corpus)
    clf.fit(*corpus)
    baseline = process.memory_info().rss
    for _ in range(10):
        clf.fit(*corpus)
    growth_mib = (process.memory_info().rss - baseline) / 2**20
    # the model holds ~0.1 MiB; ten leaked copies plus optimiser state would show
    # up well above allocator noise, which stays within a few MiB here
    assert growth_mib < 25, f"resident memory grew by {growth_mib:.1f} MiB over 10 refits"


def test_refit_replaces_the_model(tiny_bert: Path, corpus) -> None:
    clf = tiny_classifier(tiny_bert, epochs=1).fit(*corpus)
    first = clf.model_
    clf.fit(*corpus)
    assert clf.model_ is not first


def test_load_rejects_missing_and_corrupt_directories(fitted, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="no model directory"):
        BertTopicClassifier.load(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match=r"topicbert\.json"):
        BertTopicClassifier.load(tmp_path / "empty")
    directory = fitted.save(tmp_path / "corrupt")
    (directory / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelLoadError, match="Cannot load"):
        BertTopicClassifier.load(directory)
    directory = fitted.save(tmp_path / "badjson")
    (directory / "topicbert.json").write_text("{", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        BertTopicClassifier.load(directory)


def test_iter_predict_proba_streams_in_chunks(fitted, held_out) -> None:
    texts = held_out[0]
    consumed: list[int] = []

    def stream():
        for i, text in enumerate(texts):
            consumed.append(i)
            yield text

    chunks = fitted.iter_predict_proba(stream(), chunk_size=10)
    first = next(chunks)
    assert first.shape == (10, 3) and len(consumed) == 10  # nothing read ahead
    rest = list(chunks)
    np.testing.assert_allclose(
        np.concatenate([first, *rest]), fitted.predict_proba(texts), atol=1e-6
    )
    with pytest.raises(TypeError, match="position 2 holds NoneType"):
        list(fitted.iter_predict_proba(iter(["a", "b", None])))
    with pytest.raises(ValueError, match="'chunk_size'"):
        list(fitted.iter_predict_proba(texts, chunk_size=0))


def test_auto_precision_follows_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from topicbert import _devices

    cpu = torch.device("cpu")
    monkeypatch.setattr(_devices, "cpu_has_native_bf16", lambda: True)
    assert _devices.resolve_precision("auto", cpu) is torch.bfloat16
    assert _devices.resolve_precision("fp32", cpu) is None
    monkeypatch.setattr(_devices, "cpu_has_native_bf16", lambda: False)
    assert _devices.resolve_precision("auto", cpu) is None
    assert _devices.resolve_precision("bf16", cpu) is torch.bfloat16


def sdpa_backends() -> dict[str, bool]:
    cuda = torch.backends.cuda
    return {
        "cudnn": cuda.cudnn_sdp_enabled(),
        "flash": cuda.flash_sdp_enabled(),
        "efficient": cuda.mem_efficient_sdp_enabled(),
        "math": cuda.math_sdp_enabled(),
    }


def test_attention_stays_off_cudnn_kernels_on_cuda_only() -> None:
    from topicbert._devices import attention_kernels

    before = sdpa_backends()
    assert before["cudnn"]
    with attention_kernels(torch.device("cuda")):
        assert sdpa_backends() == {**before, "cudnn": False}
    assert sdpa_backends() == before
    with attention_kernels(torch.device("cpu")):
        assert sdpa_backends() == before


def test_training_and_prediction_run_inside_the_attention_choice(
    tiny_bert: Path, corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    import contextlib

    from topicbert import _inference, _training

    devices: list[str] = []

    def recording(device: torch.device) -> contextlib.AbstractContextManager[object]:
        devices.append(device.type)
        return contextlib.nullcontext()

    monkeypatch.setattr(_training, "attention_kernels", recording)
    monkeypatch.setattr(_inference, "attention_kernels", recording)
    model = tiny_classifier(tiny_bert, epochs=1).fit(*corpus)
    fitted_batches = len(devices)
    model.predict(corpus[0][:10])
    assert fitted_batches > 0 and len(devices) > fitted_batches
    assert set(devices) == {"cpu"}


def test_bf16_and_fp32_predictions_agree(fitted, corpus) -> None:
    texts = corpus[0][:40]
    fp32 = fitted.predict_proba(texts)
    bf16 = pickle.loads(pickle.dumps(fitted)).set_params(precision="bf16").predict_proba(texts)
    assert 0 < np.abs(bf16 - fp32).max() < 0.05  # rounded differently, to the same effect
    assert (bf16.argmax(axis=1) == fp32.argmax(axis=1)).mean() >= 0.95


def attention_dropout_rates(model: torch.nn.Module) -> list[float]:
    return [m.dropout.p for m in model.modules() if type(m).__name__ == "BertSelfAttention"]


def test_fine_tuning_turns_attention_dropout_off_by_default(
    tiny_bert: Path, corpus, tmp_path: Path
) -> None:
    clf = tiny_classifier(tiny_bert, epochs=1).fit(*corpus)
    assert attention_dropout_rates(clf.model_) == [0.0, 0.0]
    # hidden-state dropout is the backbone's own
    assert {m.p for m in clf.model_.encoder.modules() if isinstance(m, torch.nn.Dropout)} == {
        0.0,
        0.1,
    }
    clf.save(tmp_path / "model")
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["attention_probs_dropout_prob"] == 0.0
    kept = tiny_classifier(tiny_bert, epochs=1, attention_dropout=None).fit(*corpus)
    assert attention_dropout_rates(kept.model_) == [0.1, 0.1]
    set_to = tiny_classifier(tiny_bert, epochs=1, attention_dropout=0.25).fit(*corpus)
    assert attention_dropout_rates(set_to.model_) == [0.25, 0.25]
