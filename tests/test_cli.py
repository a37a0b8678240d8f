"""The command line, run for real in a subprocess."""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from topicbert import BertTopicClassifier, TextCleaner
from topicbert.datasets import read_labeled_csv

from .conftest import make_corpus


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "topicbert.cli", *args], capture_output=True, text=True, cwd=cwd
    )


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    texts, labels = make_corpus(30, seed=3)
    path = tmp_path_factory.mktemp("data") / "news.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "category", "text"])
        for i, (text, label) in enumerate(zip(texts + texts[:5], labels + labels[:5], strict=True)):
            writer.writerow([f"{label}/{i}", label, text])
    return path


def test_train_prints_held_out_figures_and_saves(
    tiny_bert: Path, data_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "model"
    result = run(
        "train",
        str(data_csv),
        "--backbone",
        str(tiny_bert),
        "--training",
        "full",
        "--epochs",
        "4",
        "--learning-rate",
        "3e-3",
        "--max-length",
        "64",
        "--device",
        "cpu",
        "--output",
        str(out),
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    assert "deprecated" not in result.stderr
    assert "5 duplicate texts removed" in result.stdout
    assert "training: full\n" in result.stdout
    assert "held-out accuracy:" in result.stdout and "held-out macro-F1:" in result.stdout
    accuracy = float(result.stdout.split("held-out accuracy:")[1].split()[0])
    assert accuracy >= 0.8
    assert {"report.html", "report.json", "test.csv.gz"} <= {p.name for p in out.iterdir()}
    loaded = BertTopicClassifier.load(out)
    assert loaded.classes_.tolist() == ["business", "sport", "tech"]

    # the held-out split is kept, and evaluate scores the model on it alone
    held_out = read_labeled_csv(out / "test.csv.gz")
    assert len(held_out) == 18  # 20% of the 90 distinct texts
    assert f"18 held-out texts written to {out / 'test.csv.gz'}" in result.stdout
    assert f"topicbert evaluate {out} {out / 'test.csv.gz'}" in result.stdout
    texts, labels = make_corpus(30, seed=3)
    assert set(held_out["text"]) <= set(texts)
    assert (
        dict(zip(held_out["text"], held_out["label"], strict=True)).items()
        <= dict(zip(texts, labels, strict=True)).items()
    )
    evaluated = run("evaluate", str(out), str(out / "test.csv.gz"), "-o", str(tmp_path / "ev"))
    assert evaluated.returncode == 0, evaluated.stderr
    scored = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert sum(row["support"] for row in scored["per_class"]) == 18
    assert scored["accuracy"] == pytest.approx(accuracy, abs=1e-4)  # the same held-out texts


def test_train_says_what_training_auto_chose(
    tiny_bert: Path, data_csv: Path, tmp_path: Path
) -> None:
    result = run(
        "train",
        str(data_csv),
        "--backbone",
        str(tiny_bert),
        "--training",
        "auto",  # 24 training texts per topic: contrastive
        "--max-length",
        "16",
        "--precision",
        "fp32",
        "--device",
        "cpu",
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    assert "training: contrastive (chosen by --training auto)" in result.stdout


def test_train_with_the_frozen_backbone_and_chunks(
    tiny_bert: Path, data_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "frozen"
    result = run(
        "train",
        str(data_csv),
        "--backbone",
        str(tiny_bert),
        "--training",
        "head",
        "--long-text",
        "chunks",
        "--max-length",
        "16",
        "--precision",
        "fp32",
        "--device",
        "cpu",
        "--out",  # the deprecated spelling of --output still works
        str(out),
        "--test-output",
        str(tmp_path / "held-out.csv"),
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    assert "topicbert train: warning: --out is deprecated" in result.stderr
    assert "use --output (-o) instead" in result.stderr
    loaded = BertTopicClassifier.load(out)
    assert loaded.training == "head" and loaded.long_text == "chunks"
    assert not (out / "test.csv.gz").exists()
    assert read_labeled_csv(tmp_path / "held-out.csv")["label"].nunique() == 3
    assert run("train", str(data_csv), "--long-text", "middle").returncode == 2


def test_errors_are_one_line_with_exit_code_1(tmp_path: Path) -> None:
    result = run("train", str(tmp_path / "absent.csv"))
    assert result.returncode == 1
    assert result.stderr.startswith("topicbert train: error: There is no file")
    assert "Traceback" not in result.stderr


def test_bad_usage_exits_2() -> None:
    assert run("train").returncode == 2
    assert run("train", "x.csv", "--epochs", "0").returncode == 2
    assert run("frobnicate").returncode == 2


def test_help_lists_the_options() -> None:
    result = run("train", "--help")
    assert result.returncode == 0
    for option in (
        "--output",
        "--test-output",
        "--backbone",
        "--epochs",
        "--max-length",
        "--long-text",
        "--training",
        "head",
        "--precision",
        "--test-size",
        "--track",
    ):
        assert option in result.stdout
    top = run("--help").stdout
    for command in ("train", "evaluate", "predict", "explain", "serve"):
        assert command in top


def test_train_with_mlflow_tracking(tiny_bert: Path, data_csv: Path, tmp_path: Path) -> None:
    mlflow = pytest.importorskip("mlflow")
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = run(
        "train",
        str(data_csv),
        "--backbone",
        str(tiny_bert),
        "--epochs",
        "2",
        "--max-length",
        "64",
        "--device",
        "cpu",
        "--quiet",
        "--track",
        "cli",
        "--tracking-uri",
        store,
        cwd=tmp_path,  # MLflow puts the artifacts of a SQLite store under ./mlruns
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "mlruns").is_dir()  # the artifacts stayed in the run directory
    run_id = result.stdout.split("MLflow run: ")[1].split()[0]
    finished = mlflow.MlflowClient(store).get_run(run_id)
    assert finished.info.status == "FINISHED"
    assert "test_accuracy" in finished.data.metrics


def test_evaluate_prints_the_report_and_writes_files(
    saved_model_dir: Path, data_csv: Path, tmp_path: Path
) -> None:
    result = run("evaluate", str(saved_model_dir), str(data_csv), "--output", str(tmp_path / "ev"))
    assert result.returncode == 0, result.stderr
    assert "precision    recall  f1-score   support" in result.stdout
    assert "log-loss" in result.stdout
    written = {p.name for p in (tmp_path / "ev").iterdir()}
    assert written == {"confusion_matrix.png", "report.html", "report.json"}
    assert (tmp_path / "ev" / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"


def test_predict_csv_and_plain_text_in_csv_and_jsonl_out(
    saved_model_dir: Path, data_csv: Path, tmp_path: Path, fitted
) -> None:
    result = run("predict", str(saved_model_dir), str(data_csv))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "label,p_business,p_sport,p_tech"
    assert len(lines) == 1 + 95

    texts = tmp_path / "texts.txt"
    texts.write_text("match goal team\n\nmarket shares profit\n", encoding="utf-8")
    result = run("predict", str(saved_model_dir), str(texts), "--format", "jsonl")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["label"] for row in rows] == list(
        fitted.predict(["match goal team", "market shares profit"])
    )
    assert sum(rows[0]["probabilities"].values()) == pytest.approx(1.0)

    piped = subprocess.run(
        [sys.executable, "-m", "topicbert.cli", "predict", str(saved_model_dir), "-"],
        input="phone chip software\n",
        capture_output=True,
        text=True,
    )
    assert piped.returncode == 0 and piped.stdout.splitlines()[1].startswith("tech,")


def test_explain_prints_words_and_writes_html(saved_model_dir: Path, tmp_path: Path) -> None:
    page = tmp_path / "why.html"
    result = run(
        "explain",
        str(saved_model_dir),
        "the team won the cup with a late goal",
        "--method",
        "occlusion",
        "-o",
        str(page),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("predicted: sport")
    assert "<mark " in page.read_text(encoding="utf-8")


def test_errors_of_the_other_commands(saved_model_dir: Path, tmp_path: Path) -> None:
    missing = run("evaluate", str(tmp_path / "nope"), "x.csv")
    assert missing.returncode == 1 and "no model directory" in missing.stderr
    empty = run("explain", str(saved_model_dir), "   ")
    assert empty.returncode == 1 and empty.stderr.count("\n") == 1
    assert run("predict").returncode == 2


# --- one spelling for every command ------------------------------------------------


def parse(*argv: str) -> argparse.Namespace:
    from topicbert.cli import build_parser

    return build_parser().parse_args(argv)


@pytest.mark.parametrize(
    ("argv", "old"),
    [
        (("train", "d.csv"), "--out"),
        (("evaluate", "m", "d.csv"), "--report-dir"),
        (("explain", "m", "a text"), "--html"),
    ],
)
def test_old_output_spellings_still_work_with_a_deprecation_notice(
    argv: tuple[str, ...], old: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for spelling in ("--output", "-o"):
        assert parse(*argv, spelling, "x").output == Path("x")
        assert capsys.readouterr().err == ""
    assert parse(*argv, old, "x").output == Path("x")
    notice = capsys.readouterr().err
    assert f"topicbert {argv[0]}: warning: {old} is deprecated" in notice
    assert "use --output (-o) instead" in notice


def test_freeze_backbone_is_the_old_spelling_of_training_head(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert parse("train", "d.csv").training == "auto"
    assert parse("train", "d.csv", "--training", "contrastive").training == "contrastive"
    assert capsys.readouterr().err == ""
    assert parse("train", "d.csv", "--freeze-backbone").training == "head"
    notice = capsys.readouterr().err
    assert "--freeze-backbone is deprecated" in notice and "use --training head" in notice


@pytest.mark.parametrize(
    "argv",
    [
        ("train", "d.csv"),
        ("evaluate", "m", "d.csv"),
        ("predict", "m", "d.csv"),
        ("explain", "m", "a text"),
        ("export", "m"),
        ("label-issues", "d.csv"),
        ("zero-shot", "d.json"),
        ("suggest", "m", "d.csv"),
    ],
)
def test_every_command_that_writes_takes_output_and_o(argv: tuple[str, ...]) -> None:
    assert parse(*argv, "-o", "x").output == Path("x")
    assert parse(*argv, "--output", "x").output == Path("x")
    result = run(argv[0], "--help")
    assert "-o" in result.stdout and "--output" in result.stdout


def test_export_takes_the_directory_positionally_or_as_output(
    saved_model_dir: Path, tmp_path: Path
) -> None:
    from topicbert._commands._arguments import UsageError
    from topicbert._commands.export import output_directory

    assert output_directory(parse("export", "m", "a")) == Path("a")
    assert output_directory(parse("export", "m", "-o", "a")) == Path("a")
    assert output_directory(parse("export", "m", "a", "--output", "a")) == Path("a")
    with pytest.raises(UsageError, match="differ"):
        output_directory(parse("export", "m", "a", "-o", "b"))
    missing = run("export", str(saved_model_dir))
    assert missing.returncode == 2 and "directory to write is missing" in missing.stderr
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    exported = run("export", str(saved_model_dir), "-o", str(tmp_path / "onnx"))
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "onnx" / "model.onnx").is_file()


def test_every_example_of_the_cli_page_parses_without_deprecated_spellings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import shlex

    page = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text("utf-8")
    page = page.replace("\\\n", " ")  # continued lines
    examples = [
        line.split("  #")[0].strip() for line in page.splitlines() if line.startswith("topicbert ")
    ]
    assert len(examples) >= 10
    for example in examples:
        args = parse(*shlex.split(example)[1:])
        assert callable(args.handler), example
    assert capsys.readouterr().err == ""


# --- .csv and .csv.gz alike ----------------------------------------------------------


def test_predict_reads_and_writes_gzip_compressed_csv(
    saved_model_dir: Path, data_csv: Path, tmp_path: Path
) -> None:
    packed = tmp_path / "news.csv.gz"
    packed.write_bytes(gzip.compress(data_csv.read_bytes()))
    plain = run("predict", str(saved_model_dir), str(data_csv))
    assert plain.returncode == 0, plain.stderr
    from_gzip = run("predict", str(saved_model_dir), str(packed))
    assert from_gzip.returncode == 0, from_gzip.stderr
    assert from_gzip.stdout == plain.stdout
    written = run("predict", str(saved_model_dir), str(packed), "-o", str(tmp_path / "out.csv.gz"))
    assert written.returncode == 0, written.stderr
    assert gzip.decompress((tmp_path / "out.csv.gz").read_bytes()).decode() == plain.stdout


# --- --label-separator: label sets in label columns, for every command ----------------


@pytest.fixture(scope="module")
def label_sets_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    texts, labels = make_corpus(10, seed=5)
    other = {"sport": "business", "business": "tech", "tech": "sport"}
    path = tmp_path_factory.mktemp("sets") / "tagged.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "topics"])
        for i, (text, label) in enumerate(zip(texts, labels, strict=True)):
            writer.writerow([text, f"{label}|{other[label]}" if i % 3 == 0 else label])
    return path


def test_label_issues_takes_the_label_separator_and_refuses_label_sets(
    label_sets_csv: Path,
) -> None:
    result = run("label-issues", str(label_sets_csv), "--label-separator", "|")
    assert result.returncode == 1
    assert "holds label sets (--label-separator '|')" in result.stderr
    assert "checks single labels only" in result.stderr
    assert result.stderr.count("\n") == 1


def test_label_sets_read_without_a_separator_get_a_one_line_warning(
    saved_model_dir: Path, label_sets_csv: Path, tmp_path: Path
) -> None:
    result = run("evaluate", str(saved_model_dir), str(label_sets_csv), "-o", str(tmp_path / "ev"))
    lines = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("topicbert evaluate: warning: The label column 'topics'")
    assert "separated by '|'" in lines[0] and "--label-separator '|'" in lines[0]


# --- defaults from one place ------------------------------------------------------------


def test_random_state_defaults_come_from_one_constant() -> None:
    from topicbert._commands._arguments import DEFAULT_RANDOM_STATE

    assert DEFAULT_RANDOM_STATE == 42  # the documented split of the main job
    assert parse("train", "d.csv").random_state == DEFAULT_RANDOM_STATE
    assert parse("explain", "m", "a text").random_state == DEFAULT_RANDOM_STATE
    assert parse("label-issues", "d.csv").random_state == DEFAULT_RANDOM_STATE
    for command in ("train", "explain", "label-issues"):
        text = " ".join(run(command, "--help").stdout.split())
        assert f"(default: {DEFAULT_RANDOM_STATE})" in text.split("--random-state")[-1], command


def test_help_states_every_default_it_names() -> None:
    from topicbert import BertTopicClassifier

    defaults = BertTopicClassifier().get_params()
    text = " ".join(run("train", "--help").stdout.split())
    for option, key in (("--epochs", "epochs"), ("--batch-size", "batch_size")):
        assert f"(default: {defaults[key]})" in text.split(option)[-1].split(" --")[0], option


# --- evaluate notices texts the model was trained on ----------------------------------


def test_evaluate_warns_when_texts_were_in_the_training_set(
    fitted: BertTopicClassifier,
    corpus: tuple[list[str], list[str]],
    held_out: tuple[list[str], list[str]],
    saved_model_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from topicbert._commands import evaluate
    from topicbert._fingerprints import text_hashes
    from topicbert.cli import main

    texts, labels = corpus
    monkeypatch.setattr(fitted, "training_text_hashes_", text_hashes(texts), raising=False)
    monkeypatch.setattr(evaluate, "load_model", lambda path: fitted)
    mixed = tmp_path / "mixed.csv"
    new_texts, new_labels = held_out
    with mixed.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["category", "text"])
        writer.writerows(zip(labels[:7] + new_labels, texts[:7] + new_texts, strict=True))
    assert main(["evaluate", str(saved_model_dir), str(mixed), "-o", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    total = 7 + len(new_texts)
    assert (
        f"topicbert evaluate: warning: 7 of {total} texts were in the model's training set" in err
    )

    unseen = tmp_path / "unseen.csv"
    with unseen.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["category", "text"])
        writer.writerows(zip(new_labels, new_texts, strict=True))
    assert main(["evaluate", str(saved_model_dir), str(unseen), "-o", str(tmp_path / "b")]) == 0
    assert "training set" not in capsys.readouterr().err


def test_evaluate_warns_about_training_texts_after_save_and_load(
    fitted: BertTopicClassifier,
    corpus: tuple[list[str], list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from topicbert._fingerprints import text_hashes

    texts, labels = corpus
    monkeypatch.setattr(fitted, "training_text_hashes_", text_hashes(texts), raising=False)
    saved = fitted.save(tmp_path / "model")
    assert (saved / "training-texts.npy").is_file()
    seen = tmp_path / "seen.csv"
    with seen.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["category", "text"])
        writer.writerows(zip(labels[:10], texts[:10], strict=True))
    result = run("evaluate", str(saved), str(seen), "-o", str(tmp_path / "ev"))
    assert result.returncode == 0, result.stderr
    assert "warning: 10 of 10 texts were in the model's training set" in result.stderr


def test_train_clean_keeps_the_cleaning_in_the_saved_model(
    tiny_bert: Path, data_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "cleaning"
    result = run(
        "train",
        str(data_csv),
        "--backbone",
        str(tiny_bert),
        "--training",
        "head",
        "--max-length",
        "64",
        "--device",
        "cpu",
        "--clean",
        "-o",
        str(out),
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    loaded = BertTopicClassifier.load(out)
    assert isinstance(loaded.cleaner, TextCleaner)
    assert loaded.cleaner.get_params() == {**TextCleaner().get_params(), "stopwords": None}


# --- zero-shot models from descriptions -------------------------------------------------


def test_zero_shot_saves_a_model_from_json_or_csv_descriptions(
    tiny_bert: Path, tmp_path: Path
) -> None:
    from tests.test_descriptions import DESCRIPTIONS

    as_json = tmp_path / "topics.json"
    as_json.write_text(json.dumps(DESCRIPTIONS), encoding="utf-8")
    as_csv = tmp_path / "topics.csv.gz"
    with gzip.open(as_csv, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", "description"])
        for label, value in DESCRIPTIONS.items():
            for text in [value] if isinstance(value, str) else value:
                writer.writerow([label, text])
    texts = make_corpus(5, seed=9)[0]
    expected = BertTopicClassifier.from_descriptions(
        DESCRIPTIONS, backbone=str(tiny_bert), max_length=64, device="cpu"
    ).predict_proba(texts)
    for source in (as_json, as_csv):
        out = tmp_path / source.name.split(".")[0]
        common = ("--backbone", str(tiny_bert), "--max-length", "64", "--device", "cpu")
        result = run("zero-shot", str(source), *common, "-o", str(out))
        assert result.returncode == 0, result.stderr
        assert "3 labels (sport, tech, business)" in result.stdout
        model = BertTopicClassifier.load(out, device="cpu")
        assert list(model.classes_) == ["sport", "tech", "business"]
        assert abs(model.predict_proba(texts) - expected).max() < 1e-4


def test_zero_shot_errors(
    tiny_bert: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.json"
    good.write_text('{"a": "first topic", "b": "second topic"}', encoding="utf-8")
    missing = run("zero-shot", str(good))
    assert missing.returncode == 2 and "--output MODEL_DIR" in missing.stderr
    single = run("zero-shot", str(good), "-o", "x", "--similarity-threshold", "0.2")
    assert single.returncode == 2 and "--multilabel" in single.stderr
    for option, value, message in (
        ("--temperature", "0", "must be a number > 0"),
        ("--similarity-threshold", "2", "cosine similarity from -1 to 1"),
    ):
        with pytest.raises(SystemExit) as stopped:
            parse("zero-shot", str(good), "-o", "x", option, value)
        assert stopped.value.code == 2 and message in capsys.readouterr().err, option
    cases = {
        "bad.json": ("{not json", "not valid JSON"),
        "list.json": ('["a", "b"]', "JSON object"),
        "twice.json": ('{"a": "same", "b": "same"}', "for label 'a' and for label 'b'"),
        "columns.csv": ("label,text\na,x\nb,y\n", "'description'"),
        "empty.csv": ("label,description\na,first\nb,\n", "'b' holds ''"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        result = run(
            "zero-shot", str(path), "--backbone", str(tiny_bert), "-o", str(tmp_path / "m")
        )
        assert result.returncode == 1, (name, result.stderr)
        assert message in result.stderr and result.stderr.count("\n") == 1, (name, result.stderr)
    assert not (tmp_path / "m").exists()  # nothing written by a refused command


# --- suggest -------------------------------------------------------------------------


def test_suggest_writes_the_least_sure_texts_and_leaves_labelled_ones_out(
    saved_model_dir: Path, data_csv: Path, tmp_path: Path, fitted
) -> None:
    import numpy as np

    from topicbert.active import uncertainty

    pool = [row["text"] for row in csv.DictReader(data_csv.read_text("utf-8").splitlines())]
    gz = tmp_path / "pool.csv.gz"
    gz.write_bytes(gzip.compress(data_csv.read_bytes()))
    out = tmp_path / "to_label.csv"
    result = run("suggest", str(saved_model_dir), str(gz), "--n", "6", "-o", str(out))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(out.read_text("utf-8").splitlines()))
    assert list(rows[0]) == ["position", "text", "guess", "probability"]
    proba = fitted.predict_proba(pool)
    scores = uncertainty(proba, "margin")
    positions = [int(row["position"]) for row in rows]
    assert len(positions) == 6
    # the 6 least sure texts (the pool repeats 5 texts: either copy may come first)
    assert sorted(scores[positions]) == pytest.approx(sorted(np.sort(scores)[-6:]))
    for row in rows:
        i = int(row["position"])
        assert row["text"] == pool[i]
        assert row["guess"] == fitted.classes_[proba[i].argmax()]
        assert float(row["probability"]) == pytest.approx(proba[i].max(), abs=1e-4)

    labelled = tmp_path / "labelled.csv"
    labelled.write_text(
        "text,label\n" + "".join(f'"{row["text"]}",x\n' for row in rows), encoding="utf-8"
    )
    again = run(
        "suggest", str(saved_model_dir), str(data_csv), "--n", "6", "--exclude", str(labelled)
    )
    assert again.returncode == 0, again.stderr
    later = list(csv.DictReader(again.stdout.splitlines()))
    assert not {row["text"] for row in later} & {row["text"] for row in rows}


def test_suggest_errors(saved_model_dir: Path, data_csv: Path, tmp_path: Path) -> None:
    too_many = run("suggest", str(saved_model_dir), str(data_csv), "--n", "500")
    assert too_many.returncode == 1 and "pool holds only 95 texts" in too_many.stderr
    missing = run("suggest", str(saved_model_dir), str(tmp_path / "none.csv"))
    assert missing.returncode == 1 and "No such file" in missing.stderr
    assert run("suggest", str(saved_model_dir), str(data_csv), "--n", "0").returncode == 2


# --- Parquet in and out --------------------------------------------------------------


def test_predict_reads_and_writes_parquet(
    saved_model_dir: Path, data_csv: Path, tmp_path: Path, tiny_bert: Path, fitted
) -> None:
    import numpy as np

    pyarrow = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    rows = list(csv.DictReader(data_csv.read_text("utf-8").splitlines()))
    source = tmp_path / "news.parquet"
    table = pyarrow.table({"id": [r["id"] for r in rows], "text": [r["text"] for r in rows]})
    pq.write_table(table, source, row_group_size=10)  # several row groups
    out = tmp_path / "labels.parquet"
    result = run("predict", str(saved_model_dir), str(source), "-o", str(out))
    assert result.returncode == 0, result.stderr
    written = pq.read_table(out)
    assert written.column_names == ["label", "p_business", "p_sport", "p_tech"]
    texts = [r["text"] for r in rows]
    assert written.column("label").to_pylist() == fitted.predict(texts).tolist()
    np.testing.assert_allclose(
        written.column("p_sport").to_pylist(), fitted.predict_proba(texts)[:, 1], atol=1e-6
    )
    refused = run("predict", str(saved_model_dir), str(source), "-o", str(out), "--format", "jsonl")
    assert refused.returncode == 2 and "cannot be written" in refused.stderr

    # label sets: a list column
    corpus_texts, labels = make_corpus(10, seed=5)
    sets = [(label, "news") if i % 2 else (label,) for i, label in enumerate(labels)]
    model = BertTopicClassifier(
        backbone=str(tiny_bert), training="head", max_length=32, device="cpu", random_state=0
    ).fit(corpus_texts, sets)
    model_dir = model.save(tmp_path / "sets-model")
    out_sets = tmp_path / "sets.parquet"
    result = run("predict", str(model_dir), str(source), "-o", str(out_sets))
    assert result.returncode == 0, result.stderr
    read = pq.read_table(out_sets)
    labels_type = read.schema.field("labels").type
    assert pyarrow.types.is_list(labels_type) and pyarrow.types.is_string(labels_type.value_type)
    expected = [list(row) for row in model.predict(texts)]
    assert read.column("labels").to_pylist() == expected


def test_parquet_texts_are_read_a_batch_at_a_time(tmp_path: Path) -> None:
    pyarrow = pytest.importorskip("pyarrow")
    import tracemalloc

    import pyarrow.parquet as pq

    from topicbert._commands.predict import read_parquet_texts

    path = tmp_path / "big.parquet"
    texts = [f"text {i} " + "word " * 40 for i in range(100_000)]  # 22 MB as Python strings
    pq.write_table(pyarrow.table({"body": texts}), path, row_group_size=5_000)
    del texts
    tracemalloc.start()
    count = sum(1 for _ in read_parquet_texts(str(path), None))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 100_000
    assert peak < 5_000_000


def test_predict_on_an_engine_refuses_what_it_cannot_do_before_starting_one(
    saved_model_dir: Path, onnx_export: Path, data_csv: Path, tmp_path: Path
) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "part-0.parquet").write_text("kept")
    (tmp_path / "notes.txt").write_text("a text\n")
    cases = {
        "is not one: write one with 'topicbert export": [str(saved_model_dir), str(data_csv)],
        "not standard input": [str(onnx_export), "-"],
        "name it with -o": [str(onnx_export), str(data_csv), "--engine", "ray"],
        "already exists and is not": [str(onnx_export), str(data_csv), "-o", str(taken)],
        "neither a Parquet": [str(onnx_export), str(tmp_path / "notes.txt"), "-o", "out"],
        "does not exist": [str(onnx_export), str(tmp_path / "missing.csv"), "-o", "out"],
    }  # fmt: skip
    for message, arguments in cases.items():
        engine = [] if "--engine" in arguments else ["--engine", "spark"]
        done = run("predict", *arguments, *engine, "--threads", "1", cwd=tmp_path)
        assert done.returncode == 2, (message, done.stderr)
        assert message in done.stderr, done.stderr
    assert (taken / "part-0.parquet").read_text() == "kept"
