"""A fit's plumbing, beside the estimator: settings, split, model, training and thresholds.

:func:`prepare` checks the input and makes every choice that needs no
weights (labels, device, precision, seed, split, token ids) into one frozen
:class:`FitSettings`; :func:`build_model` loads the encoder and puts a head
on it; :func:`train_model` trains it the way the estimator's parameters say,
with callbacks and history; :func:`tune_thresholds` sets multi-label
thresholds on texts the model was not fitted on. The estimator's ``fit``
calls them in that order and owns what is kept or put back.
:func:`build_from_descriptions` makes a model from label descriptions with
the same steps and no training (``BertTopicClassifier.from_descriptions``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.utils import check_random_state

from topicbert._targets import Targets, encode_targets

if TYPE_CHECKING:
    import torch

    from topicbert._classifier import BertTopicClassifier
    from topicbert._model import TopicModel
    from topicbert._tokenizing import Document
    from topicbert._training import TrainingSettings
    from topicbert.plugins import Backbone, Callback

EpochHook = Callable[[dict[str, float]], None]


@dataclass(frozen=True)
class FitSettings:
    """Everything one fit works with that does not change while it runs."""

    documents: list[Document]
    """The training texts' token ids."""
    targets: Targets
    train_index: np.ndarray
    valid_index: np.ndarray | None
    """Texts held out for early stopping or threshold tuning, or ``None``."""
    backbone: Backbone
    tokenizer: Any
    device: torch.device
    amp_dtype: torch.dtype | None
    seed: int
    rng: np.random.RandomState
    """The fit's one stream of random numbers, seeded with ``seed`` (it advances)."""
    rank: int
    world_size: int
    training: str
    """How the encoder is trained: ``"full"``, ``"contrastive"`` or ``"head"`` (never auto)."""

    @property
    def multilabel(self) -> bool:
        """Whether each text carries a set of labels."""
        return self.targets.multilabel

    @property
    def labels(self) -> np.ndarray:
        """Class indices, or a float32 indicator matrix (multi-label)."""
        return self.targets.encoded

    def subset(self, index: np.ndarray) -> list[Document]:
        """The documents at ``index``."""
        return [self.documents[i] for i in index]

    def draw_seed(self) -> int:
        """A seed for a part of the fit that seeds its own generator."""
        return int(self.rng.randint(np.iinfo(np.int32).max))


def prepare(estimator: BertTopicClassifier, texts: list[str], y: Any) -> FitSettings:
    """Check the input and make a fit's choices, before any weights are loaded."""
    from topicbert._backbones import resolve_backbone
    from topicbert._devices import (
        broadcast_seed,
        distributed_context,
        resolve_device,
        resolve_precision,
    )

    if estimator.freeze_backbone:
        warnings.warn(
            "freeze_backbone=True is deprecated; use training='head', which does the same.",
            FutureWarning,
            stacklevel=3,
        )
    targets = check_targets(estimator, y, len(texts))
    requested = estimator._requested_training()
    described: tuple[list[str], np.ndarray] | None = None
    if estimator.descriptions is not None:
        from topicbert._descriptions import description_examples

        described = description_examples(estimator.descriptions, targets)
    rank, world_size, device = distributed_context(resolve_device(estimator.device))
    amp_dtype = resolve_precision(estimator.precision, device)
    backbone = resolve_backbone(estimator.backbone)
    first = check_random_state(estimator.random_state)
    seed = broadcast_seed(int(first.randint(np.iinfo(np.int32).max)), world_size)
    train_index, valid_index = training_split(
        estimator, targets, seed, resolve_training(requested, targets)
    )
    # "auto" is decided on the texts that are trained on, after any validation split
    training = resolve_training(requested, targets, train_index)
    if training == "contrastive":
        from topicbert._contrastive import check_pairs_possible

        check_pairs_possible(targets.encoded[train_index], targets.classes)
    tokenizer = backbone.load_tokenizer()
    check_tokenizer(tokenizer, backbone.name)
    documents = estimator._tokenize(tokenizer, texts)
    if described is not None:  # extra training examples, never held out
        from topicbert._descriptions import with_examples

        targets, train_index = with_examples(targets, train_index, described[1])
        documents += estimator._tokenize(tokenizer, estimator._clean(described[0]))
    return FitSettings(
        documents=documents,
        targets=targets,
        train_index=train_index,
        valid_index=valid_index,
        backbone=backbone,
        tokenizer=tokenizer,
        device=device,
        amp_dtype=amp_dtype,
        seed=seed,
        rng=np.random.RandomState(seed),
        rank=rank,
        world_size=world_size,
        training=training,
    )


CONTRASTIVE_UP_TO = 32
"""``training="auto"``: contrastive training while the median label has at most this
many labelled texts, fine-tuning above (chosen on validation data, see
``benchmarks/select_training.py`` and ``docs/results.md``)."""


def resolve_training(
    requested: str, targets: Targets, train_index: np.ndarray | None = None
) -> str:
    """``training="auto"`` made concrete from the labelled texts per label; others as given.

    Single labels: contrastive training while the median label has at most
    ``CONTRASTIVE_UP_TO`` texts and every label has two (its pairs need
    them), counted over ``train_index`` (all texts when ``None``). Label
    sets, and everything else: fine-tuning, which was ahead on Reuters'
    validation wires (micro-F1) even at 8 per topic.
    """
    if requested != "auto":
        return requested
    encoded = targets.encoded if train_index is None else targets.encoded[train_index]
    if encoded.ndim == 2:
        return "full"
    per_label = np.bincount(encoded, minlength=len(targets.classes))
    if per_label.min() >= 2 and float(np.median(per_label)) <= CONTRASTIVE_UP_TO:
        return "contrastive"
    return "full"


def build_from_descriptions(
    estimator: BertTopicClassifier,
    texts: list[list[str]],
    *,
    temperature: float,
    similarity_threshold: float,
) -> None:
    """Give ``estimator`` (labels and ``normalize`` set) a model made from ``texts``.

    Each label's ``texts`` are its descriptions (see ``topicbert._descriptions``).
    """
    from sklearn.base import clone

    from topicbert._descriptions import set_description_head
    from topicbert._devices import seeded
    from topicbert._inference import embed

    labels = list(estimator.labels or [])
    flat = [text for group in texts for text in group]
    owners = np.repeat(np.arange(len(labels)), [len(group) for group in texts])
    multilabel = estimator.multilabel is True
    y = [(labels[i],) for i in owners] if multilabel else [labels[i] for i in owners]
    # the descriptions are read like training texts, with no split and no training
    reader = clone(estimator).set_params(
        descriptions=None, early_stopping=False, training="head", threshold=0.5
    )
    fit = prepare(reader, estimator._clean(flat), y)
    with seeded(fit.seed, fit.device):
        model = build_model(estimator, fit).eval()
    estimator.model_ = model
    estimator.training_ = "head"
    estimator.tokenizer_ = fit.tokenizer
    estimator.device_ = fit.device
    estimator.classes_ = fit.targets.classes
    estimator.target_kind_ = fit.targets.kind
    estimator.thresholds_ = None
    estimator.backbone_name_ = fit.backbone.name
    estimator.history_ = []
    estimator.training_text_hashes_ = None
    # callbacks see the head's making as a fit with no epochs (MLflow logs the model)
    with calling_callbacks(estimator, fit.rank):
        vectors = embed(model, fit.documents, estimator._inference_settings(fit.amp_dtype))
        set_description_head(
            model.classifier,
            vectors,
            owners,
            temperature=temperature,
            similarity_threshold=similarity_threshold if multilabel else None,
        )


def check_targets(estimator: BertTopicClassifier, y: Any, n_texts: int) -> Targets:
    """``y`` in the model's terms, checked against the labels and the abstention label."""
    targets = encode_targets(y, n_texts, labels=estimator.labels, multilabel=estimator.multilabel)
    if estimator.min_confidence is not None and not targets.multilabel:
        from topicbert._thresholds import check_abstain_label

        check_abstain_label(estimator.abstain_label, targets.classes)
    return targets


def training_split(
    estimator: BertTopicClassifier, targets: Targets, seed: int, mode: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """The split the estimator's parameters and ``mode`` need."""
    needs_split = estimator.early_stopping or (
        targets.multilabel and estimator.threshold == "tune" and mode == "full"
    )
    return split(
        targets, seed, validation_fraction=estimator.validation_fraction, needed=needs_split
    )


def split(
    targets: Targets, seed: int, *, validation_fraction: float, needed: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Training and validation positions (stratified where every class can be), sorted."""
    indices = np.arange(len(targets.encoded))
    if not needed:
        return indices, None
    from sklearn.model_selection import train_test_split

    n_valid = math.ceil(validation_fraction * len(indices))
    stratify = None
    if not targets.multilabel:
        y_index = targets.encoded
        counts = np.bincount(y_index)
        enough = n_valid >= len(np.unique(y_index)) and counts[counts > 0].min() >= 2
        stratify = y_index if enough else None
    if len(indices) - n_valid < 1:
        raise ValueError(
            f"validation_fraction={validation_fraction} leaves no training texts out "
            f"of {len(indices)}; lower it or pass more data."
        )
    train_index, valid_index = train_test_split(
        indices, test_size=n_valid, random_state=seed, stratify=stratify
    )
    return np.sort(train_index), np.sort(valid_index)


def check_tokenizer(tokenizer: Any, name: str) -> None:
    """Refuse a tokenizer that cannot pad a batch."""
    if getattr(tokenizer, "pad_token_id", None) is None:
        raise ValueError(
            f"The tokenizer of backbone {name!r} has no padding token; set "
            "tokenizer.pad_token (e.g. to its eos_token) in your backbone."
        )


def build_model(estimator: BertTopicClassifier, fit: FitSettings) -> TopicModel:
    """Load the encoder, check it against the parameters, and put a head on it."""
    from topicbert._model import TopicModel, position_limit, set_attention_dropout

    encoder = fit.backbone.load_encoder()
    limit = position_limit(encoder, fit.tokenizer)
    if limit is not None and estimator.max_length > limit:
        raise ValueError(
            f"max_length={estimator.max_length} is larger than backbone "
            f"{fit.backbone.name!r} allows ({limit} tokens). Use max_length <= {limit}."
        )
    if estimator.attention_dropout is not None:
        set_attention_dropout(encoder, estimator.attention_dropout)
    if estimator.pooling == "pooler" and getattr(encoder, "pooler", None) is None:
        raise ValueError(
            "pooling='pooler' needs an encoder with a pooler layer (such as BERT's); "
            "use pooling='mean' or 'cls' for this backbone."
        )
    model = TopicModel(
        encoder,
        len(fit.targets.classes),
        estimator.dropout,
        estimator.pooling,
        estimator.normalize,
    )
    return model.to(fit.device)


def train_model(estimator: BertTopicClassifier, fit: FitSettings) -> np.ndarray | None:
    """Train ``estimator.model_`` with callbacks; return out-of-fold probabilities if made.

    Every process records the history; see :func:`calling_callbacks` for
    which call the callbacks.
    """
    with calling_callbacks(estimator, fit.rank) as callbacks:

        def on_epoch_end(record: dict[str, float]) -> None:
            estimator.history_.append(record)
            for callback in callbacks:
                callback.on_epoch_end(estimator, record)

        mode = fit.training
        if mode == "head":
            return fit_frozen_head(estimator, fit, on_epoch_end, validate=True)
        if mode == "contrastive":
            return fit_contrastive(estimator, fit, on_epoch_end)
        fine_tune(estimator, fit, on_epoch_end)
        return None


@contextmanager
def calling_callbacks(estimator: BertTopicClassifier, rank: int) -> Iterator[list[Callback]]:
    """Call the callbacks' ``on_train_begin``, then ``on_train_end`` or ``on_train_error``.

    Yields the callbacks that get the epochs' records. Only the first process
    of a distributed run calls them (one set of progress bars, one tracked
    run), except those whose class sets ``every_rank``.
    """
    callbacks = [
        callback
        for callback in estimator.callbacks or []
        if rank == 0 or getattr(callback, "every_rank", False)
    ]
    try:
        for callback in callbacks:
            callback.on_train_begin(estimator)
        yield callbacks
        for callback in callbacks:
            callback.on_train_end(estimator)
    except BaseException as error:
        for callback in callbacks:
            callback.on_train_error(estimator, error)
        raise


def fine_tune(estimator: BertTopicClassifier, fit: FitSettings, on_epoch_end: EpochHook) -> None:
    """Fine-tune every weight, the head started as ``head_init`` says."""
    from topicbert._training import start_at_base_rates, train

    model = estimator.model_
    if resolved_head_init(estimator.head_init, multilabel=fit.multilabel) == "probe":
        # the frozen backbone's head, then every weight is fine-tuned from there
        trainable = {name: p.requires_grad for name, p in model.named_parameters()}
        fit_frozen_head(estimator, fit, lambda record: None, validate=False)
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(trainable[name])
    elif fit.multilabel:
        start_at_base_rates(model.classifier, fit.labels[fit.train_index])
    valid = fit.valid_index
    train(
        model,
        fit.subset(fit.train_index),
        fit.labels[fit.train_index],
        valid_ids=None if valid is None else fit.subset(valid),
        valid_labels=None if valid is None else fit.labels[valid],
        settings=training_settings(estimator, multilabel=fit.multilabel),
        pad_id=fit.tokenizer.pad_token_id,
        device=fit.device,
        amp_dtype=fit.amp_dtype,
        class_weights=class_weights(estimator.class_weight, fit),
        rng=fit.rng,
        on_epoch_end=on_epoch_end,
        rank=fit.rank,
        world_size=fit.world_size,
    )


def fit_contrastive(
    estimator: BertTopicClassifier, fit: FitSettings, on_epoch_end: EpochHook
) -> np.ndarray | None:
    """Tune the encoder on pairs of training texts, then fit the head on its vectors."""
    from topicbert._contrastive import PairSettings, PairStopping, tune_on_pairs

    valid = fit.valid_index
    stopping = None
    if estimator.early_stopping and valid is not None and len(valid):
        stopping = PairStopping(
            documents=fit.subset(valid),
            labels=fit.labels[valid],
            patience=estimator.n_iter_no_change,
            inference=estimator._inference_settings(fit.amp_dtype, verbose=False),
        )
    settings = PairSettings(
        iterations=estimator.contrastive_iterations,
        batch_size=estimator.batch_size,
        learning_rate=estimator.contrastive_learning_rate,
        weight_decay=estimator.weight_decay,
        warmup_ratio=estimator.warmup_ratio,
        max_grad_norm=estimator.max_grad_norm,
        verbose=int(estimator.verbose) if fit.rank == 0 else 0,
    )
    figures = tune_on_pairs(
        estimator.model_,
        fit.subset(fit.train_index),
        fit.labels[fit.train_index],
        settings=settings,
        pad_id=fit.tokenizer.pad_token_id,
        amp_dtype=fit.amp_dtype,
        rng=fit.rng,
        rank=fit.rank,
        world_size=fit.world_size,
        stopping=stopping,
    )
    # the head's one history record carries the pair pass's figures too
    return fit_frozen_head(
        estimator, fit, lambda record: on_epoch_end({**record, **figures}), validate=True
    )


def resolved_head_init(head_init: str, *, multilabel: bool) -> str:
    """``head_init="auto"``: a probed head for label sets, a random one for single labels."""
    if head_init != "auto":
        return head_init
    return "probe" if multilabel else "random"


def fit_frozen_head(
    estimator: BertTopicClassifier, fit: FitSettings, on_epoch_end: EpochHook, *, validate: bool
) -> np.ndarray | None:
    """Fit the head on the frozen encoder's vectors (see ``fit_head``).

    ``validate`` scores the validation split, if there is one, as an epoch record.
    """
    from topicbert._frozen_head import fit_head

    return fit_head(
        estimator.model_,
        fit.documents,
        fit.labels,
        fit.train_index,
        fit.valid_index if validate else None,
        inference=estimator._inference_settings(fit.amp_dtype, verbose=fit.rank == 0),
        fingerprint=estimator._fingerprint(fit.amp_dtype),
        balanced=estimator.class_weight == "balanced",
        seed=fit.draw_seed(),
        on_epoch_end=on_epoch_end,
    )


def class_weights(class_weight: str | None, fit: FitSettings) -> torch.Tensor | None:
    """The loss weights ``class_weight="balanced"`` asks for, from the training part."""
    if class_weight != "balanced":
        return None
    import torch

    labels = fit.labels[fit.train_index]
    if fit.multilabel:
        from topicbert._targets import positive_weights

        weights = positive_weights(labels).astype(np.float32)
    else:
        from sklearn.utils.class_weight import compute_class_weight

        present = np.unique(labels)
        weights = np.ones(len(fit.targets.classes), dtype=np.float32)
        weights[present] = compute_class_weight("balanced", classes=present, y=labels)
    return torch.as_tensor(weights, device=fit.device)


def training_settings(estimator: BertTopicClassifier, *, multilabel: bool) -> TrainingSettings:
    """The training loop's hyperparameters, from the estimator's parameters."""
    from topicbert._training import TrainingSettings

    return TrainingSettings(
        epochs=estimator.epochs,
        batch_size=estimator.batch_size,
        learning_rate=estimator.learning_rate,
        weight_decay=estimator.weight_decay,
        warmup_ratio=estimator.warmup_ratio,
        max_grad_norm=estimator.max_grad_norm,
        accumulation_steps=estimator.accumulation_steps,
        n_iter_no_change=estimator.n_iter_no_change if estimator.early_stopping else None,
        verbose=estimator.verbose,
        multilabel=multilabel,
    )


def tune_thresholds(
    estimator: BertTopicClassifier, fit: FitSettings, out_of_fold: np.ndarray | None
) -> np.ndarray:
    """Per-label thresholds from probabilities of texts the model was not fitted on."""
    from topicbert._thresholds import tune_thresholds as tune

    if out_of_fold is not None:
        proba, truth = out_of_fold, fit.labels[fit.train_index]
    else:
        if fit.valid_index is None:  # pragma: no cover - prepare always splits when tuning
            raise RuntimeError("threshold='tune' needs a validation split")
        proba = estimator._proba(fit.subset(fit.valid_index), fit.amp_dtype)
        truth = fit.labels[fit.valid_index]
    _, thresholds = tune(proba, truth)
    return thresholds
