"""DecisionRule: probabilities to predictions, in one place for the estimator, export and server."""

from __future__ import annotations

import inspect
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from topicbert import BertTopicClassifier
from topicbert._decision import DecisionRule, rule_of
from topicbert.exceptions import ModelLoadError
from topicbert.integrations._service import ModelService

CLASSES = np.array(["business", "sport", "tech"])
PROBA = np.array([[0.7, 0.2, 0.1], [0.4, 0.35, 0.25], [0.1, 0.3, 0.6]])


def test_single_label_takes_the_top_class() -> None:
    rule = DecisionRule(target_kind="single", classes=CLASSES)
    assert rule.decide(PROBA).tolist() == ["business", "business", "tech"]
    assert not rule.multilabel


def test_single_label_abstains_below_min_confidence() -> None:
    rule = DecisionRule(
        target_kind="single", classes=CLASSES, min_confidence=0.5, abstain_label="unknown"
    )
    decided = rule.decide(PROBA)
    assert decided.dtype == object
    assert decided.tolist() == ["business", "unknown", "tech"]


def test_an_abstain_label_that_is_a_class_is_refused() -> None:
    rule = DecisionRule(
        target_kind="single", classes=CLASSES, min_confidence=0.5, abstain_label="sport"
    )
    with pytest.raises(ValueError, match="abstain_label='sport' is one of the labels"):
        rule.decide(PROBA)


def test_multilabel_thresholds_min_labels_and_abstention() -> None:
    rule = DecisionRule(target_kind="collections", classes=CLASSES, threshold=0.3)
    assert rule.decide(PROBA) == [("business",), ("business", "sport"), ("sport", "tech")]
    strict = rule.replace(threshold=0.65)
    assert strict.decide(PROBA) == [("business",), (), ()]
    assert strict.replace(min_labels=1).decide(PROBA) == [("business",), ("business",), ("tech",)]
    # abstention empties a row whatever min_labels says
    unsure = strict.replace(min_labels=1, min_confidence=0.5)
    assert unsure.decide(PROBA) == [("business",), (), ("tech",)]


def test_tuned_thresholds_are_per_label() -> None:
    rule = DecisionRule(
        target_kind="indicator",
        classes=CLASSES,
        threshold="tune",
        thresholds=np.array([0.8, 0.3, 0.2]),
    )
    assert rule.decide(PROBA).tolist() == [[0, 0, 0], [0, 1, 1], [0, 1, 1]]
    with pytest.raises(ValueError, match="threshold='tune' was set after"):
        rule.replace(thresholds=None).decide(PROBA)


def test_probabilities_follow_the_target_kind() -> None:
    logits = np.array([[2.0, 0.0, -1.0]])
    single = DecisionRule(target_kind="single", classes=CLASSES).probabilities(logits)
    multi = DecisionRule(target_kind="indicator", classes=CLASSES).probabilities(logits)
    assert single.sum() == pytest.approx(1.0)
    assert multi[0, 0] == pytest.approx(1 / (1 + np.exp(-2.0)))


def test_metadata_round_trip_keeps_every_field(tmp_path: Path) -> None:
    rule = DecisionRule(
        target_kind="collections",
        classes=np.array([("a", 1), ("b", 2)], dtype=object)[:, 0],
        thresholds=np.array([0.25, 0.75]),
        threshold="tune",
        min_labels=1,
        min_confidence=0.4,
        abstain_label=("none", 0),
    )
    metadata = json.loads(json.dumps(rule.to_metadata()))
    again = DecisionRule.from_metadata(metadata, tmp_path / "meta.json")
    for name in ("target_kind", "threshold", "min_labels", "min_confidence", "abstain_label"):
        assert getattr(again, name) == getattr(rule, name), name
    assert again.classes.tolist() == rule.classes.tolist()
    assert again.thresholds is not None and again.thresholds.tolist() == [0.25, 0.75]
    with pytest.raises(ModelLoadError, match="target_kind"):
        DecisionRule.from_metadata({**metadata, "target_kind": "sets"}, tmp_path / "m.json")


def test_every_rule_parameter_is_an_estimator_parameter_with_the_same_default() -> None:
    signature = inspect.signature(BertTopicClassifier)
    fields = {
        name: DecisionRule.__dataclass_fields__[name] for name in DecisionRule.parameter_names()
    }
    assert set(fields) == {"threshold", "min_labels", "min_confidence", "abstain_label"}
    for name, field in fields.items():
        assert signature.parameters[name].default == field.default, name


def test_the_estimator_rule_follows_parameters_set_after_fitting(fitted) -> None:
    model = pickle.loads(pickle.dumps(fitted))
    assert model.decision_rule.min_confidence is None
    texts = ["match goal team", "market shares profit"]
    top = float(model.predict_proba(texts).max())
    assert top < 1.0
    model.set_params(min_confidence=(top + 1.0) / 2, abstain_label="unsure")
    rule = model.decision_rule
    assert rule.min_confidence == (top + 1.0) / 2 and rule.abstain_label == "unsure"
    assert model.predict(texts).tolist() == ["unsure", "unsure"]


def test_rule_of_a_pipeline_is_its_last_step_and_other_models_get_the_top_class(
    fitted,
) -> None:
    pipeline = make_pipeline(FunctionTransformer(lambda texts: texts), fitted)
    assert rule_of(pipeline).classes.tolist() == fitted.classes_.tolist()
    other = LogisticRegression().fit([[0.0], [1.0]], ["no", "yes"])
    plain = rule_of(other)
    assert not plain.multilabel and plain.classes.tolist() == ["no", "yes"]


def test_the_service_answers_null_for_no_confident_topic_whatever_the_abstain_label(
    fitted,
) -> None:
    model = pickle.loads(pickle.dumps(fitted))
    model.set_params(min_confidence=0.99, abstain_label="unsure")
    service = ModelService(model, batching=None)
    proba = np.array([[0.995, 0.004, 0.001], [0.5, 0.3, 0.2]])
    assert service.decide(proba) == [str(model.classes_[0]), None]
    assert service.decide(proba, min_confidence=0.4) == [str(model.classes_[0])] * 2
    service.stop()
