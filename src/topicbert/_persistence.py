"""The model file format: save, load and pickle a fitted BertTopicClassifier.

A saved model is a directory:

- ``model.safetensors``: the encoder's weights (under its ``base_model_prefix``,
  as ``transformers`` names them) and the head's ``classifier.weight`` and
  ``classifier.bias``;
- ``config.json``: the encoder's configuration with ``id2label``, so that
  ``transformers`` loads the directory too;
- the tokenizer's files;
- ``topicbert.json``: the format version, labels, parameters and history.

Saving is atomic (see :func:`topicbert._files.write_directory_atomically`): a
failure or a kill at any point leaves either the old model or the new one at
the path, never a mixture.
"""

from __future__ import annotations

import json
import numbers
import tempfile
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from topicbert._cleaning import cleaner_from_settings
from topicbert._decision import classes_from_metadata, classes_to_metadata
from topicbert._files import (
    check_directory_target,
    from_json_value,
    library_version,
    to_json_value,
    write_directory_atomically,
)
from topicbert._fingerprints import load_hashes, save_hashes
from topicbert._targets import SINGLE, TARGET_KINDS
from topicbert.exceptions import DeviceWarning, ModelLoadError

if TYPE_CHECKING:
    import torch

    from topicbert._classifier import BertTopicClassifier

METADATA_FILE = "topicbert.json"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
TRAINING_TEXTS_FILE = "training-texts.npy"
"""Hashes of the training texts (see ``topicbert._fingerprints``); older models lack it."""
FORMAT_VERSION = 1
"""Bumped when a saved model can no longer be read by an older topicbert."""
_REQUIRED_METADATA = ("format_version", "backbone", "weights_prefix", "classes", "params")
_UNSAVED_PARAMS = ("backbone", "callbacks")
BEFORE_THEY_EXISTED = {"training": "full"}
"""Parameters whose default is not what a model saved or pickled before them did.

A model from before ``training=`` existed was fine-tuned (or frozen, which
its ``freeze_backbone`` says); the default is now ``"auto"``.
"""


# ---------------------------------------------------------------------- save
def _metadata(estimator: BertTopicClassifier, prefix: str) -> dict[str, Any]:
    """Everything ``topicbert.json`` holds, checked to be JSON before any file is written."""
    params: dict[str, object] = {}
    for key, value in estimator.get_params(deep=False).items():
        if key in _UNSAVED_PARAMS:
            continue
        if key == "random_state" and not isinstance(value, numbers.Integral):
            value = None  # a RandomState instance has no JSON form; an int is kept
        if key == "cleaner":
            params[key] = None if value is None else value.to_settings()
            continue
        params[key] = to_json_value(value, what=f"The parameter {key}={value!r}")
    classes = estimator.classes_
    return {
        "format_version": FORMAT_VERSION,
        "topicbert_version": library_version(),
        "backbone": estimator.backbone_name_,
        "weights_prefix": prefix,
        **classes_to_metadata(classes),
        "target_kind": estimator.target_kind_,
        "thresholds": to_json_value(estimator.thresholds_, what="thresholds_"),
        "params": params,
        "training": estimator._training_mode(),
        "history": [
            {str(key): to_json_value(value, what="history_") for key, value in record.items()}
            for record in estimator.history_
        ],
    }


def write_model_files(estimator: BertTopicClassifier, directory: Path) -> None:
    """Write every file of a saved model into the existing ``directory``."""
    from safetensors.torch import save_file

    model = estimator.model_
    encoder: Any = model.encoder
    if not hasattr(encoder, "config") or not hasattr(encoder.config, "to_json_file"):
        raise TypeError(
            f"Only encoders that are transformers PreTrainedModel instances can be saved; "
            f"this one is {type(encoder).__name__}."
        )
    prefix = getattr(encoder, "base_model_prefix", "") or "encoder"
    metadata = json.dumps(_metadata(estimator, prefix), indent=2)

    weights = {f"{prefix}.{k}": v for k, v in encoder.state_dict().items()}
    weights["classifier.weight"] = model.classifier.weight
    weights["classifier.bias"] = model.classifier.bias
    save_file(
        {k: v.detach().to("cpu").contiguous() for k, v in weights.items()},
        str(directory / WEIGHTS_FILE),
        metadata={"format": "pt"},
    )
    classes = estimator.classes_.tolist()
    config = encoder.config.__class__.from_dict(encoder.config.to_dict())
    config.num_labels = len(classes)
    config.id2label = {i: str(label) for i, label in enumerate(classes)}
    config.label2id = {str(label): i for i, label in enumerate(classes)}
    config.classifier_dropout = estimator.dropout
    architecture = type(encoder).__name__
    if estimator.pooling == "pooler" and architecture == "BertModel":
        architecture = "BertForSequenceClassification"
    config.architectures = [architecture]
    config.to_json_file(str(directory / CONFIG_FILE))
    estimator.tokenizer_.save_pretrained(str(directory))
    hashes = getattr(estimator, "training_text_hashes_", None)
    if hashes is not None:
        save_hashes(directory / TRAINING_TEXTS_FILE, hashes)
    (directory / METADATA_FILE).write_text(metadata, encoding="utf-8")


def save_model(estimator: BertTopicClassifier, path: str | Path) -> Path:
    """Save ``estimator`` to the directory ``path`` atomically; see the module's docstring."""
    directory = Path(path)
    write_directory_atomically(
        directory, lambda staging: write_model_files(estimator, staging), marker=METADATA_FILE
    )
    return directory


def check_save_target(path: str | Path) -> None:
    """Refuse, before any work, a ``path`` that :func:`save_model` would refuse."""
    check_directory_target(Path(path), marker=METADATA_FILE)


# ---------------------------------------------------------------------- load
def read_metadata(directory: Path) -> dict[str, Any]:
    """Read and check ``topicbert.json``; every problem is a ModelLoadError naming the file."""
    if not directory.is_dir():
        raise ModelLoadError(f"There is no model directory at {str(directory)!r}.")
    missing = [
        name
        for name in (METADATA_FILE, WEIGHTS_FILE, CONFIG_FILE)
        if not (directory / name).is_file()
    ]
    if missing:
        raise ModelLoadError(
            f"{str(directory)!r} is not a saved topicbert model: {', '.join(missing)} missing. "
            "Save one with BertTopicClassifier.save(path)."
        )
    path = directory / METADATA_FILE
    try:
        metadata = json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{str(path)!r} is not valid JSON: {exc}") from exc
    if not isinstance(metadata, dict) or any(key not in metadata for key in _REQUIRED_METADATA):
        raise ModelLoadError(
            f"{str(path)!r} lacks required entries ({', '.join(_REQUIRED_METADATA)})."
        )
    found = metadata["format_version"]
    if not isinstance(found, int) or isinstance(found, bool) or found < 1:
        raise ModelLoadError(f"{str(path)!r} has an invalid format_version {found!r}.")
    if found > FORMAT_VERSION:
        raise ModelLoadError(
            f"{str(path)!r} says format version {found}, written by "
            f"topicbert {metadata.get('topicbert_version')}; this topicbert "
            f"({library_version()}) reads up to version {FORMAT_VERSION}. Upgrade topicbert."
        )
    problems = []
    kind = metadata.setdefault("target_kind", SINGLE)  # files before multi-label: single
    if kind not in TARGET_KINDS:
        problems.append(f"target_kind must be one of {', '.join(TARGET_KINDS)}")
    fewest = 2 if kind == SINGLE else 1
    if not isinstance(metadata["classes"], list) or len(metadata["classes"]) < fewest:
        problems.append(f"classes must be a list of at least {fewest} labels")
    thresholds = metadata.setdefault("thresholds", None)
    if thresholds is not None and not (
        isinstance(thresholds, list)
        and isinstance(metadata["classes"], list)
        and len(thresholds) == len(metadata["classes"])
        and all(isinstance(t, int | float) and 0 <= t <= 1 for t in thresholds)
    ):
        problems.append("thresholds must be null or one number in [0, 1] per class")
    if not isinstance(metadata["params"], dict):
        problems.append("params must be an object")
    if not isinstance(metadata["backbone"], str) or not isinstance(metadata["weights_prefix"], str):
        problems.append("backbone and weights_prefix must be strings")
    if not isinstance(metadata.setdefault("history", []), list):
        problems.append("history must be a list")
    if not isinstance(metadata.setdefault("classes_dtype", "O"), str):
        problems.append("classes_dtype must be a string")
    if problems:
        raise ModelLoadError(f"{str(path)!r} is malformed: {'; '.join(problems)}.")
    try:
        metadata["classes"] = from_json_value(metadata["classes"])
        params = metadata["params"]
        cleaner = params.pop("cleaner", None)
        metadata["params"] = {k: from_json_value(v) for k, v in params.items()}
        if cleaner is not None:
            metadata["params"]["cleaner"] = cleaner_from_settings(cleaner)
    except ValueError as exc:
        raise ModelLoadError(f"{str(path)!r} is malformed: {exc}.") from exc
    return metadata


def restore_model(
    estimator: BertTopicClassifier,
    directory: Path,
    metadata: Mapping[str, Any],
    device: torch.device,
) -> None:
    """Load the files of ``directory`` into ``estimator``'s fitted attributes."""
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModel

    from topicbert._model import TopicModel

    classes = classes_from_metadata(metadata, directory / METADATA_FILE)

    def read(what: str, names: str, load: Callable[[], Any]) -> Any:
        try:
            return load()
        except Exception as exc:  # transformers raises many kinds; all mean "unreadable"
            raise ModelLoadError(
                f"Cannot load the model in {str(directory)!r}: its {what} ({names}) cannot be "
                f"read: {type(exc).__name__}: {exc}"
            ) from exc

    tokenizer = read(
        "tokenizer", "tokenizer.json and tokenizer_config.json", lambda: _load_tokenizer(directory)
    )
    config = read("configuration", CONFIG_FILE, lambda: AutoConfig.from_pretrained(directory))
    weights = read("weights", WEIGHTS_FILE, lambda: load_file(directory / WEIGHTS_FILE))
    encoder = read(
        "configuration",
        CONFIG_FILE,
        lambda: AutoModel.from_config(config),  # type: ignore[no-untyped-call]
    )
    prefix = metadata["weights_prefix"] + "."
    model = TopicModel(
        encoder, len(classes), estimator.dropout, estimator.pooling, estimator.normalize
    )
    state = {}
    for key, value in weights.items():
        if key.startswith("classifier."):
            state[key] = value
        else:
            state["encoder." + key.removeprefix(prefix)] = value
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelLoadError(
            f"The weights in {str(directory / WEIGHTS_FILE)!r} do not match the model "
            f"described by its {CONFIG_FILE} and {METADATA_FILE}: {exc}"
        ) from exc
    estimator.classes_ = classes
    estimator.target_kind_ = metadata["target_kind"]
    thresholds = metadata["thresholds"]
    estimator.thresholds_ = None if thresholds is None else np.asarray(thresholds, np.float64)
    estimator.model_ = model.to(device).eval()
    estimator.tokenizer_ = tokenizer
    estimator.backbone_name_ = metadata["backbone"]
    estimator.device_ = device
    estimator.history_ = metadata["history"]
    # saved before training="auto" existed: the parameters say how it was trained
    estimator.training_ = metadata.get("training") or estimator._requested_training()
    hashes_file = directory / TRAINING_TEXTS_FILE
    estimator.training_text_hashes_ = None
    if hashes_file.is_file():
        estimator.training_text_hashes_ = read(
            "training-text hashes", TRAINING_TEXTS_FILE, lambda: load_hashes(hashes_file)
        )


def _load_tokenizer(directory: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(directory)


def load_model(
    cls: type[BertTopicClassifier], path: str | Path, device: str
) -> BertTopicClassifier:
    """Load a model saved by :func:`save_model`, with its ``device`` parameter set to ``device``."""
    from topicbert._devices import resolve_device

    directory = Path(path)
    metadata = read_metadata(directory)
    params = dict(metadata["params"])
    known = cls().get_params(deep=False)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ModelLoadError(
            f"{str(directory / METADATA_FILE)!r} has parameters this topicbert does not know: "
            f"{', '.join(unknown)}."
        )
    params["device"] = device
    if params.get("freeze_backbone"):  # saved before training= replaced it
        params["freeze_backbone"], params["training"] = False, "head"
    params = {**BEFORE_THEY_EXISTED, **params}
    try:
        estimator = cls(**params)
        estimator.backbone = metadata["backbone"]
        estimator._validate_params()
    except (TypeError, ValueError) as exc:
        raise ModelLoadError(
            f"{str(directory / METADATA_FILE)!r} holds invalid parameters: {exc}"
        ) from exc
    restore_model(estimator, directory, metadata, resolve_device(device))
    return estimator


# -------------------------------------------------------------------- pickle
def pickle_state(estimator: BertTopicClassifier, state: dict[str, Any]) -> dict[str, Any]:
    """Replace the torch objects of a fitted estimator's state by its saved files."""
    if "model_" not in state:
        return state
    with tempfile.TemporaryDirectory() as tmp:
        write_model_files(estimator, Path(tmp))
        state["_saved_files"] = {p.name: p.read_bytes() for p in Path(tmp).iterdir() if p.is_file()}
    state["device_"] = str(state["device_"])
    del state["model_"], state["tokenizer_"]
    return state


def unpickle_state(estimator: BertTopicClassifier, files: Mapping[str, bytes]) -> None:
    """Rebuild the torch objects from the files :func:`pickle_state` stored."""
    from topicbert._devices import resolve_device

    fitted_on = str(estimator.__dict__["device_"])
    try:
        device = resolve_device(fitted_on)
    except ValueError:
        warnings.warn(
            f"The model was fitted on {fitted_on!r}, which this machine lacks; "
            "it is loaded on the CPU.",
            DeviceWarning,
            stacklevel=3,
        )
        device = resolve_device("cpu")
    classes = estimator.__dict__.get("classes_")
    with tempfile.TemporaryDirectory() as tmp:
        for name, content in files.items():
            (Path(tmp) / name).write_bytes(content)
        restore_model(estimator, Path(tmp), read_metadata(Path(tmp)), device)
    if classes is not None:
        estimator.classes_ = classes  # the pickled array itself: labels keep their exact type
