"""Run the README's main job (`make train`) and keep its figures, at each precision.

The main job is ``topicbert train data/bbc-news.csv.gz --output DIR``: remove
duplicate texts, hold out a stratified 20% test split (``random_state=42``),
fine-tune the default backbone on the rest and report held-out accuracy and
macro-F1. This script runs exactly that command once per ``--precision``
(``auto`` is what the README's job uses: bf16 where the CPU has bf16
instructions, float32 elsewhere), times the whole command, and reads the
figures back from the ``report.json`` the command saves beside the model.

    python benchmarks/main_job.py                      # auto, then fp32
    python benchmarks/main_job.py --precisions auto    # the README's job alone
    python benchmarks/main_job.py --smoke              # a trial run on a tiny input

Raw figures go to ``benchmarks/results/main-job-DATE.json``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import BBC, parse, parser, smoke_length
from benchmarks._results import write


def run_job(data: Path, output: Path, extra: list[str]) -> dict[str, Any]:
    """Run ``topicbert train`` on ``data``; its wall time, fit time and held-out figures."""
    command = [sys.executable, "-m", "topicbert.cli", "train", str(data), "-o", str(output)]
    command += [*extra, "--quiet"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    fit = re.search(r"fit seconds: ([0-9.]+)", done.stdout)
    device = re.search(r"backbone: .* on (\S+)", done.stdout)
    report = json.loads((output / "report.json").read_text())
    return {
        "command": " ".join(["topicbert", *command[3:]]),
        "job_seconds": round(seconds, 1),
        "fit_seconds": float(fit.group(1)) if fit else None,
        "device": device.group(1) if device else None,
        "accuracy": report["accuracy"],
        "macro_f1": report["macro avg"]["f1-score"],
        "test_texts": sum(row["support"] for row in report["per_class"]),
    }


def smoke_data(directory: Path) -> Path:
    """A tiny corpus in BBC's layout: 60 distinct texts, 3 topics."""
    import pandas as pd

    from benchmarks._common import load_corpus

    data = load_corpus("bbc", limit=60)
    path = directory / "tiny.csv"
    pd.DataFrame({"category": data["label"], "text": data["text"]}).to_csv(path, index=False)
    return path


def main(argv: list[str] | None = None) -> None:
    made = parser(__doc__, limit=False)
    made.add_argument(
        "--precisions",
        nargs="+",
        default=["auto", "fp32"],
        help="the --precision of each run (default: auto fp32)",
    )
    args = parse(made, argv)
    runs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = smoke_data(Path(tmp)) if args.smoke else BBC
        for precision in args.precisions:
            extra = ["--precision", precision, "--backbone", args.backbone]
            if args.smoke:
                extra += ["--epochs", "1", "--max-length", str(smoke_length(256, True))]
            runs[precision] = run_job(data, Path(tmp) / precision, extra)
            print(precision, runs[precision])
    if "auto" in runs and "fp32" in runs:
        runs["fp32_over_auto"] = {
            "job_seconds": round(runs["fp32"]["job_seconds"] / runs["auto"]["job_seconds"], 2),
            "fit_seconds": round(runs["fp32"]["fit_seconds"] / runs["auto"]["fit_seconds"], 2)
            if runs["auto"]["fit_seconds"]
            else None,
        }
    write("main-job", {"data": str(data.name), "runs": runs}, directory=args.results_dir)


if __name__ == "__main__":
    main()
