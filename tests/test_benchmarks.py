"""The benchmark scripts start, and their raw results name the machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(
    path
    for path in (ROOT / "benchmarks").glob("*.py")
    if not path.name.startswith("_") and "argparse" in path.read_text()
)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_each_benchmark_script_imports_and_explains_itself(script: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


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
