"""ONNX export: the exported model predicts what the estimator did, without torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from tests.conftest import free_port, tiny_classifier
from topicbert import BertTopicClassifier
from topicbert.cli import main
from topicbert.exceptions import ModelLoadError, ModelSaveError

pytest.importorskip("onnxscript")
from topicbert.onnx import OnnxTopicClassifier, is_onnx_export

TOLERANCE = 1e-4


def assert_parity(clf: BertTopicClassifier, exported: OnnxTopicClassifier, texts: list[str]):
    expected, got = clf.predict_proba(texts), exported.predict_proba(texts)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < TOLERANCE
    assert (got.argmax(axis=1) == expected.argmax(axis=1)).all()
    predicted, exported_predicted = clf.predict(texts), exported.predict(texts)
    if isinstance(predicted, np.ndarray):
        np.testing.assert_array_equal(exported_predicted, predicted)
    else:
        assert exported_predicted == predicted


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"long_text": "chunks", "max_length": 16, "max_chunks": 4},
        {"long_text": "head_tail", "max_length": 16},
        {"training": "head"},
        {"pooling": "cls"},
    ],
    ids=["truncate", "chunks", "head_tail", "frozen", "cls"],
)
def test_export_predicts_what_the_estimator_did(tiny_bert, corpus, held_out, tmp_path, params):
    texts, labels = corpus
    clf = tiny_classifier(tiny_bert, epochs=2, **params).fit(texts, labels)
    path = clf.export_onnx(tmp_path / "onnx")
    assert is_onnx_export(path)
    assert sorted(p.name for p in path.iterdir()) == [
        "model.onnx",
        "tokenizer.json",
        "topicbert-onnx.json",
    ]
    exported = OnnxTopicClassifier(path)
    np.testing.assert_array_equal(exported.classes_, clf.classes_)
    # one text, a batch, texts longer than max_length, and a blank text
    sample = [*held_out[0], held_out[0][0] * 20, "   ", "x"]
    assert_parity(clf, exported, sample)
    assert_parity(clf, exported, sample[:1])
    assert exported.predict_proba([]).shape == (0, len(clf.classes_))


def test_attention_is_exported_as_plain_products_and_the_estimator_keeps_its_own(
    fitted, held_out, tmp_path
):
    import onnx

    before = fitted.model_.encoder.config._attn_implementation
    path = fitted.export_onnx(tmp_path / "onnx")
    operators = {node.op_type for node in onnx.load(str(path / "model.onnx")).graph.node}
    # sdpa's guards for all-padding rows (IsNaN, Where) cost time in every layer
    assert "IsNaN" not in operators and "Softmax" in operators
    assert fitted.model_.encoder.config._attn_implementation == before
    assert_parity(fitted, OnnxTopicClassifier(path), held_out[0])


def test_token_ids_match_the_estimator(tiny_bert, corpus, tmp_path):
    texts, labels = corpus
    for long_text in ("truncate", "chunks", "head_tail"):
        clf = tiny_classifier(
            tiny_bert, epochs=1, long_text=long_text, max_length=12, max_chunks=3
        ).fit(texts, labels)
        exported = OnnxTopicClassifier(clf.export_onnx(tmp_path / long_text))
        sample = [texts[0] * 5, "Ünïcödé  <b>html</b> text!", texts[3]]
        assert exported.tokenize(sample) == clf._tokenize(clf.tokenizer_, sample)


@pytest.mark.parametrize("kind", ["indicator", "collections"])
def test_multilabel_export_keeps_thresholds(tiny_bert, corpus, held_out, tmp_path, kind):
    texts, labels = corpus
    sets = [(label, "extra") if i % 3 == 0 else (label,) for i, label in enumerate(labels)]
    if kind == "indicator":
        from sklearn.preprocessing import MultiLabelBinarizer

        y = MultiLabelBinarizer().fit_transform(sets)
    else:
        y = sets
    clf = tiny_classifier(tiny_bert, epochs=2, threshold="tune", min_labels=1).fit(texts, y)
    exported = OnnxTopicClassifier(clf.export_onnx(tmp_path / "onnx"))
    assert exported.target_kind_ == kind
    np.testing.assert_array_equal(exported.thresholds_, clf.thresholds_)
    assert_parity(clf, exported, held_out[0])


def test_labels_keep_their_type(tiny_bert, corpus, tmp_path):
    texts, labels = corpus
    numbers = np.array([{"business": 3, "sport": 7, "tech": 11}[label] for label in labels])
    clf = tiny_classifier(tiny_bert, epochs=1).fit(texts, numbers)
    exported = OnnxTopicClassifier(clf.export_onnx(tmp_path / "onnx"))
    assert exported.classes_.dtype == clf.classes_.dtype
    np.testing.assert_array_equal(exported.predict(texts[:5]), clf.predict(texts[:5]))


def test_int8_export_is_smaller_and_mostly_agrees(fitted, held_out, tmp_path):
    full = fitted.export_onnx(tmp_path / "fp32")
    small = fitted.export_onnx(tmp_path / "int8", quantize="int8")
    assert (small / "model.onnx").stat().st_size < (full / "model.onnx").stat().st_size
    exported = OnnxTopicClassifier(small)
    assert exported.quantize == "int8"
    proba = exported.predict_proba(held_out[0])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    # int8 is an approximation: measured, not assumed equal
    expected = fitted.predict_proba(held_out[0])
    assert np.abs(proba - expected).max() < 0.2
    assert (proba.argmax(axis=1) == expected.argmax(axis=1)).mean() >= 0.9
    # the head stays float32 (quantising its input made every text look alike)
    import onnx

    graph = onnx.load(str(small / "model.onnx"))
    producers = {out: node.op_type for node in graph.graph.node for out in node.output}
    assert producers["logits"] in ("Gemm", "Add")
    assert "MatMulInteger" not in {
        node.op_type for node in graph.graph.node if "logits" in "".join(node.output)
    }
    assert "MatMulInteger" in set(producers.values())  # the encoder is quantised


def test_export_replaces_an_export_and_refuses_other_directories(fitted, tmp_path):
    path = fitted.export_onnx(tmp_path / "onnx")
    first = (path / "model.onnx").read_bytes()
    fitted.export_onnx(path)  # an earlier export is replaced whole
    assert (path / "model.onnx").read_bytes() == first
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(ModelSaveError, match="not a topicbert model"):
        fitted.export_onnx(other)
    assert (other / "notes.txt").read_text() == "keep me"
    with pytest.raises(ValueError, match="quantize"):
        fitted.export_onnx(tmp_path / "x", quantize="int4")
    assert not (tmp_path / "x").exists()


def test_unfitted_model_cannot_be_exported(tiny_bert, tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        tiny_classifier(tiny_bert).export_onnx(tmp_path / "onnx")


def test_broken_exports_name_the_file(fitted, tmp_path):
    path = fitted.export_onnx(tmp_path / "onnx")
    with pytest.raises(ModelLoadError, match="not an ONNX export"):
        OnnxTopicClassifier(tmp_path)
    with pytest.raises(ModelLoadError, match="not a directory"):
        OnnxTopicClassifier(tmp_path / "missing")
    metadata = path / "topicbert-onnx.json"
    original = metadata.read_text()
    metadata.write_text(original[: len(original) // 2])
    with pytest.raises(ModelLoadError, match=r"topicbert-onnx\.json"):
        OnnxTopicClassifier(path)
    newer = json.loads(original)
    newer["format_version"] = 99
    metadata.write_text(json.dumps(newer))
    with pytest.raises(ModelLoadError, match="Upgrade topicbert"):
        OnnxTopicClassifier(path)
    metadata.write_text(original)
    (path / "model.onnx").write_bytes(b"not a graph")
    with pytest.raises(ModelLoadError, match=r"model\.onnx"):
        OnnxTopicClassifier(path)
    (path / "model.onnx").unlink()
    with pytest.raises(ModelLoadError, match=r"model\.onnx"):
        OnnxTopicClassifier(path)


def test_bad_texts_are_refused(fitted, tmp_path):
    exported = OnnxTopicClassifier(fitted.export_onnx(tmp_path / "onnx"))
    with pytest.raises(ValueError, match="single string"):
        exported.predict("one text")
    with pytest.raises(TypeError, match="position 1 holds int"):
        exported.predict(["fine", 3])
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="batch_size"):
            OnnxTopicClassifier(exported.path, batch_size=bad)


def test_cli_export(fitted, tmp_path, capsys):
    model = fitted.save(tmp_path / "model")
    assert main(["export", str(model), str(tmp_path / "onnx")]) == 0
    assert "exported" in capsys.readouterr().out
    exported = OnnxTopicClassifier(tmp_path / "onnx")
    texts = ["the match ended in a late goal", "shares and profits rose"]
    np.testing.assert_array_equal(exported.predict(texts), fitted.predict(texts))
    assert main(["export", str(tmp_path / "missing"), str(tmp_path / "out")]) == 1
    assert "topicbert export: error:" in capsys.readouterr().err


BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys

    BLOCKED = {"torch", "transformers", "sklearn", "scipy", "pandas", "safetensors"}

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is not installed here")
            return None

    sys.meta_path.insert(0, Blocker())
    """
)


def test_serving_an_export_needs_no_torch(fitted, tmp_path):
    """The export is served where importing torch, transformers or scikit-learn fails."""
    path = fitted.export_onnx(tmp_path / "onnx")
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
    }
    check = subprocess.run(
        [sys.executable, "-c", "import torch"], env=env, capture_output=True, text=True
    )
    assert "torch is not installed here" in check.stderr  # the blocker works
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "topicbert.cli", "serve", str(path), "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail(f"the server did not start: {(tmp_path / 'server.log').read_text()}")
        texts = ["the match ended in a late goal", "shares and profits rose"]
        request = urllib.request.Request(
            f"{url}/api/predict",
            data=json.dumps({"texts": texts}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            predictions = json.load(response)["predictions"]
        expected = fitted.predict_proba(texts)
        for row, prediction in zip(expected, predictions, strict=True):
            assert prediction["label"] == fitted.classes_[row.argmax()]
            got = [prediction["probabilities"][str(c)] for c in fitted.classes_]
            assert np.abs(np.asarray(got) - row).max() < TOLERANCE
        with urllib.request.urlopen(f"{url}/", timeout=30) as response:
            assert b"<form" in response.read()
        explain = urllib.request.Request(
            f"{url}/api/explain",
            data=json.dumps({"text": texts[0]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(explain, timeout=30)
        assert refused.value.code == 501
        assert "not available" in json.load(refused.value)["error"]
    finally:
        process.terminate()
        code = process.wait(timeout=30)
        log.close()
    output = (tmp_path / "server.log").read_text()
    assert code == 0, output
    assert "Traceback" not in output


def test_export_keeps_the_abstention_settings(fitted, held_out, tmp_path):
    import pickle

    texts = held_out[0]
    model = pickle.loads(pickle.dumps(fitted))
    top = np.sort(model.predict_proba(texts).max(axis=1))
    middle = float(top[len(top) // 2 - 1] + top[len(top) // 2]) / 2  # away from every text's
    model.set_params(min_confidence=middle, abstain_label="unknown")
    exported = OnnxTopicClassifier(model.export_onnx(tmp_path / "export"))
    assert exported.min_confidence == model.min_confidence
    assert list(exported.predict(texts)) == list(model.predict(texts))
    assert "unknown" in list(exported.predict(texts))
