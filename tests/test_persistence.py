"""The model file format: atomic saves, faithful round trips, clear errors on bad files."""

from __future__ import annotations

import errno
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from topicbert import BertTopicClassifier, ModelLoadError, ModelSaveError
from topicbert.exceptions import TopicbertError

from .conftest import tiny_classifier


def entries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture(scope="module")
def other_fitted(tiny_bert: Path, corpus) -> BertTopicClassifier:
    """A second model whose predictions differ from ``fitted``'s."""
    return tiny_classifier(tiny_bert, epochs=2, random_state=1).fit(*corpus)


# ------------------------------------------------------------------ round trips
def test_loaded_model_predicts_bit_for_bit_the_same(fitted, held_out, tmp_path: Path) -> None:
    loaded = BertTopicClassifier.load(fitted.save(tmp_path / "model"), device="cpu")
    np.testing.assert_array_equal(
        loaded.predict_proba(held_out[0]), fitted.predict_proba(held_out[0])
    )


def test_numpy_parameters_and_labels_are_saved_as_plain_json(
    tiny_bert: Path, corpus, tmp_path: Path
) -> None:
    texts, labels = corpus
    clf = tiny_classifier(
        tiny_bert,
        epochs=np.int64(1),  # as GridSearchCV passes values taken from a numpy array
        learning_rate=np.float64(3e-3),
        labels=np.unique(labels),
        random_state=np.int64(7),
    ).fit(texts, labels)
    directory = clf.save(tmp_path / "model")
    params = json.loads((directory / "topicbert.json").read_text())["params"]
    assert params["epochs"] == 1 and params["learning_rate"] == 3e-3
    assert params["labels"] == sorted(set(labels))
    assert params["random_state"] == 7
    loaded = BertTopicClassifier.load(directory, device="cpu")
    assert loaded.epochs == 1 and loaded.random_state == 7


@pytest.mark.parametrize(
    "labels",
    [
        [(1, "a"), (2, "b"), (3, "c")],  # with multilabel=False, tuples are labels themselves
        [np.int64(3), np.int64(10), np.int64(-2)],
        ["sport", "tech", "business"],
        [True, False, True],
    ],
    ids=["tuples", "numpy-ints", "strings", "bools"],
)
def test_labels_keep_their_type_through_save_load_and_pickle(
    tiny_bert: Path, labels: list, tmp_path: Path
) -> None:
    from .conftest import make_corpus

    texts, names = make_corpus(6, seed=3)
    mapping = dict(zip(sorted(set(names)), labels, strict=False))
    y = [mapping.get(name, labels[0]) for name in names]
    clf = tiny_classifier(tiny_bert, epochs=1, multilabel=False).fit(texts, y)
    restored = [
        BertTopicClassifier.load(clf.save(tmp_path / "model"), device="cpu"),
        pickle.loads(pickle.dumps(clf)),
    ]
    for other in restored:
        assert other.classes_.dtype == clf.classes_.dtype
        assert [type(c) for c in other.classes_] == [type(c) for c in clf.classes_]
        assert other.classes_.tolist() == clf.classes_.tolist()
        assert other.predict(texts[:3]).tolist() == clf.predict(texts[:3]).tolist()


def test_random_state_instance_is_saved_as_none(tiny_bert: Path, corpus, tmp_path: Path) -> None:
    clf = tiny_classifier(tiny_bert, epochs=1, random_state=np.random.RandomState(0))
    directory = clf.fit(*corpus).save(tmp_path / "model")
    assert json.loads((directory / "topicbert.json").read_text())["params"]["random_state"] is None


def test_load_sets_the_device_parameter(fitted, tmp_path: Path) -> None:
    directory = fitted.save(tmp_path / "model")
    assert BertTopicClassifier.load(directory, device="cpu").device == "cpu"
    assert BertTopicClassifier.load(directory).device == "auto"


# ------------------------------------------------------------------ atomic saves
def test_unsaveable_parameter_leaves_the_old_model_intact(
    fitted, other_fitted, held_out, tmp_path: Path
) -> None:
    directory = fitted.save(tmp_path / "model")
    before = {p.name: p.read_bytes() for p in directory.iterdir()}
    other_fitted.set_params(labels=None, verbose=object())  # no JSON form
    try:
        with pytest.raises(TypeError, match="verbose"):
            other_fitted.save(directory)
    finally:
        other_fitted.set_params(verbose=0)
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before
    assert entries(tmp_path) == ["model"]  # nothing half-written beside it


def test_full_disk_while_saving_is_a_clear_error_and_keeps_the_old_model(
    fitted, other_fitted, held_out, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = fitted.save(tmp_path / "model")
    expected = fitted.predict_proba(held_out[0])

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    for writer in ("save_pretrained", "to_json_file"):
        with monkeypatch.context() as patch:
            if writer == "save_pretrained":
                patch.setattr(type(other_fitted.tokenizer_), "save_pretrained", full_disk)
            else:
                config_type = type(other_fitted.model_.encoder.config)
                patch.setattr(config_type, "to_json_file", full_disk)
            with pytest.raises(ModelSaveError, match=r"No space left on device.*unchanged"):
                other_fitted.save(directory)
        assert entries(tmp_path) == ["model"]
        reloaded = BertTopicClassifier.load(directory, device="cpu")
        np.testing.assert_array_equal(reloaded.predict_proba(held_out[0]), expected)


def test_interrupt_while_saving_keeps_the_old_model(
    fitted, other_fitted, held_out, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = fitted.save(tmp_path / "model")

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("safetensors.torch.save_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        other_fitted.save(directory)
    monkeypatch.undo()
    assert entries(tmp_path) == ["model"]
    np.testing.assert_array_equal(
        BertTopicClassifier.load(directory, device="cpu").predict_proba(held_out[0]),
        fitted.predict_proba(held_out[0]),
    )


def test_save_replaces_a_model_and_refuses_a_folder_of_other_files(
    fitted, other_fitted, held_out, tmp_path: Path
) -> None:
    directory = fitted.save(tmp_path / "model")
    other_fitted.save(directory)
    np.testing.assert_array_equal(
        BertTopicClassifier.load(directory, device="cpu").predict_proba(held_out[0]),
        other_fitted.predict_proba(held_out[0]),
    )
    assert entries(tmp_path) == ["model"]
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "notes.txt").write_text("keep me")
    with pytest.raises(ModelSaveError, match="not a topicbert model"):
        fitted.save(tmp_path / "work")
    assert entries(tmp_path / "work") == ["notes.txt"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModelSaveError, match="not a directory"):
        fitted.save(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    assert (fitted.save(tmp_path / "empty") / "topicbert.json").is_file()


KILLED_SAVER = """
import sys, time
import safetensors.torch
from topicbert import BertTopicClassifier

source, target = sys.argv[1], sys.argv[2]
model = BertTopicClassifier.load(source, device="cpu")
save_file, save_pretrained = safetensors.torch.save_file, type(model.tokenizer_).save_pretrained


def slow_save_file(*args, **kwargs):  # a slow disk: wide windows between the files
    save_file(*args, **kwargs)
    time.sleep(0.02)


def slow_save_pretrained(*args, **kwargs):
    result = save_pretrained(*args, **kwargs)
    time.sleep(0.02)
    return result


safetensors.torch.save_file = slow_save_file
type(model.tokenizer_).save_pretrained = slow_save_pretrained
print("ready", flush=True)
while True:
    model.save(target)
"""


@pytest.mark.slow
def test_sigkill_while_saving_over_a_model_never_leaves_a_broken_one(
    fitted, other_fitted, held_out, tmp_path: Path
) -> None:
    models = {"old": fitted, "new": other_fitted}
    probabilities = {name: model.predict_proba(held_out[0]) for name, model in models.items()}
    source = other_fitted.save(tmp_path / "source")
    outcomes = []
    for attempt, delay in enumerate((0.0, 0.01, 0.02, 0.035, 0.05, 0.08, 0.12, 0.2)):
        parent = tmp_path / f"attempt-{attempt}"
        target = fitted.save(parent / "model")
        process = subprocess.Popen(
            [sys.executable, "-c", KILLED_SAVER, str(source), str(target)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        time.sleep(delay)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        process.stdout.close()
        loaded = BertTopicClassifier.load(target, device="cpu")
        proba = loaded.predict_proba(held_out[0])
        outcome = "old" if np.array_equal(proba, probabilities["old"]) else "new"
        # the whole of one model, never the weights of one with the metadata of the other
        np.testing.assert_array_equal(proba, probabilities[outcome])
        assert loaded.history_ == models[outcome].history_
        assert loaded.random_state == models[outcome].random_state
        outcomes.append(outcome)
        visible = [name for name in entries(parent) if not name.startswith(".")]
        assert visible == ["model"]
    assert "new" in outcomes  # the kills did land during saves


# ------------------------------------------------------------------ bad model files
def corrupt(directory: Path, case: str) -> str:
    """Damage a saved model; return the file name the error must mention."""
    if case == "missing-weights":
        (directory / "model.safetensors").unlink()
        return "model.safetensors"
    if case == "truncated-weights":
        data = (directory / "model.safetensors").read_bytes()
        (directory / "model.safetensors").write_bytes(data[: len(data) // 2])
        return "model.safetensors"
    if case == "garbled-config":
        (directory / "config.json").write_text("{ not json")
        return "config.json"
    if case == "garbled-tokenizer":
        (directory / "tokenizer.json").write_text('{"model": 3}')
        return "tokenizer"
    metadata_path = directory / "topicbert.json"
    metadata = json.loads(metadata_path.read_text())
    if case == "edited-json":
        metadata["classes"] = "sport"
    elif case == "unknown-parameter":
        metadata["params"]["colour"] = "blue"
    elif case == "invalid-parameter":
        metadata["params"]["max_length"] = -4
    elif case == "newer-format":
        metadata["format_version"] = 99
    elif case == "broken-format-version":
        metadata["format_version"] = "one"
    elif case == "missing-entry":
        del metadata["params"]
    metadata_path.write_text(json.dumps(metadata))
    return "topicbert.json"


@pytest.mark.parametrize(
    "case",
    [
        "missing-weights",
        "truncated-weights",
        "garbled-config",
        "garbled-tokenizer",
        "edited-json",
        "unknown-parameter",
        "invalid-parameter",
        "newer-format",
        "broken-format-version",
        "missing-entry",
    ],
)
def test_corrupt_model_directory_gets_one_clear_error_naming_the_file(
    fitted, tmp_path: Path, case: str
) -> None:
    directory = fitted.save(tmp_path / "model")
    name = corrupt(directory, case)
    with pytest.raises(ModelLoadError, match=name.replace(".", r"\.")) as caught:
        BertTopicClassifier.load(directory, device="cpu")
    assert isinstance(caught.value, TopicbertError) and isinstance(caught.value, ValueError)
    if case == "newer-format":
        assert "Upgrade topicbert" in str(caught.value)
