"""Reading labelled CSV files, de-duplication and splitting."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from topicbert.datasets import drop_duplicate_texts, read_labeled_csv, train_val_test_split

from .conftest import BBC_CSV


def test_reads_bbc_layout(tmp_path: Path) -> None:
    path = tmp_path / "bbc.csv"
    path.write_text('id,category,text\nsport/1,sport,"A, quoted\n\ntext"\ntech/2,tech,Chips\n')
    data = read_labeled_csv(path)
    assert list(data.columns) == ["text", "label"]
    assert data["text"].tolist() == ["A, quoted\n\ntext", "Chips"]
    assert data["label"].tolist() == ["sport", "tech"]


def test_reads_category_text_layout_and_explicit_columns(tmp_path: Path) -> None:
    path = tmp_path / "bbc-text.csv"
    path.write_text("category,text\nsport,one\nbusiness,two\n")
    assert read_labeled_csv(path)["label"].tolist() == ["sport", "business"]
    other = tmp_path / "other.csv"
    other.write_text("y,doc\na,one\nb,two\n")
    data = read_labeled_csv(other, text_column="doc", label_column="y")
    assert data["text"].tolist() == ["one", "two"]


def test_unknown_layout_fails_clearly(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match=r"columns \['a', 'b'\].*text_column"):
        read_labeled_csv(path)
    with pytest.raises(ValueError, match="not a column"):
        read_labeled_csv(path, text_column="text")
    with pytest.raises(FileNotFoundError):
        read_labeled_csv(tmp_path / "absent.csv")


def test_missing_texts_stay_missing(tmp_path: Path) -> None:
    path = tmp_path / "gaps.csv"
    path.write_text("category,text\nsport,\nbusiness,nan\n")
    data = read_labeled_csv(path)
    assert pd.isna(data["text"][0])
    assert data["text"][1] == "nan"  # a literal word is kept as written


def test_drop_duplicates_and_stratified_split() -> None:
    data = pd.DataFrame({"text": [f"t{i % 90}" for i in range(100)], "label": ["a", "b"] * 50})
    unique = drop_duplicate_texts(data)
    assert len(unique) == 90 and unique["text"].is_unique
    train, val, test = train_val_test_split(unique, random_state=0)
    assert (len(train), len(val), len(test)) == (63, 9, 18)
    assert set(train["text"]).isdisjoint(test["text"])
    again = train_val_test_split(unique, random_state=0)
    assert again[2]["text"].tolist() == test["text"].tolist()
    with pytest.raises(ValueError, match="add up to less than 1"):
        train_val_test_split(unique, val_size=0.5, test_size=0.5)


@pytest.mark.skipif(not BBC_CSV.is_file(), reason="the BBC corpus is not available")
def test_bbc_corpus_has_98_duplicates() -> None:
    data = read_labeled_csv(BBC_CSV)
    assert len(data) == 2225
    assert len(drop_duplicate_texts(data)) == 2225 - 98
