"""Serving: scoring math, request feature parsing, the model record, and conversion of FATE 2.2 model outputs."""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
sys.path.insert(0, str(FIXTURES / "serving"))

import serving_harness  # noqa: F401  (puts the package on sys.path)
from fateops_serving import RetCode, ServingError, ServingModel, UnsupportedModelError
from fateops_serving.fate_output import model_from_fate_output
from fateops_serving.model import (
    features_in_header_order,
    guest_output,
    linear_score,
    sigmoid,
    to_number,
)


def _model(**overrides: object) -> ServingModel:
    fields: dict[str, object] = {
        "model_id": "202611220001",
        "model_version": "0",
        "role": "guest",
        "party_id": "9999",
        "algorithm": "hetero_lr",
        "header": ("a", "b", "c"),
        "coef": (0.5, -1.25, 2.0),
        "intercept": 0.1,
        "guest_party_id": "9999",
        "host_party_ids": ("10000",),
    }
    fields.update(overrides)
    return ServingModel(**fields)  # type: ignore[arg-type]


def _load(name: str) -> dict:
    return json.loads((FIXTURES / "serving" / name).read_text())


def test_linear_score_matches_a_plain_loop() -> None:
    rng = random.Random(7)
    for size in (0, 1, 5, 30):
        coef = [rng.uniform(-3, 3) for _ in range(size)]
        values = [rng.uniform(-3, 3) for _ in range(size)]
        expected = 0.0
        for index in range(size):
            expected += coef[index] * values[index]
        assert linear_score(coef, values) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("score", [-800.0, -30.0, -1.5, 0.0, 0.3, 12.0, 800.0])
def test_sigmoid_is_stable_and_exact(score: float) -> None:
    expected = 1.0 / (1.0 + math.exp(-score)) if score > -700 else 0.0
    assert sigmoid(score) == pytest.approx(expected, abs=1e-15)
    assert 0.0 <= sigmoid(score) <= 1.0


def test_guest_output_lr_gives_prob_and_linr_gives_score() -> None:
    assert guest_output(_model(), 0.0) == {"prob": 0.5, "score": 0.5}
    assert guest_output(_model(algorithm="hetero_linr"), 3.25) == {"score": 3.25}


def test_features_by_name_come_back_in_header_order() -> None:
    model = _model()
    assert features_in_header_order(model, {"c": 3, "a": "1.5", "b": -2}) == [1.5, -2.0, 3.0]
    assert features_in_header_order(model, [1, 2, 3.5]) == [1.0, 2.0, 3.5]


@pytest.mark.parametrize(
    ("feature_data", "retcode", "words"),
    [
        ({"a": 1, "b": 2}, RetCode.FEATURE_ERROR, "missing: c"),
        ({"a": 1, "b": 2, "c": 3, "d": 4}, RetCode.FEATURE_ERROR, "unexpected: d"),
        ({"a": 1, "b": 2, "z": 3}, RetCode.FEATURE_ERROR, "missing: c; unexpected: z"),
        ([1, 2], RetCode.FEATURE_ERROR, "has 2 values, the model expects 3"),
        ({"a": 1, "b": "high", "c": 3}, RetCode.FEATURE_VALUE_ERROR, "'b' is not a finite number"),
        ({"a": 1, "b": True, "c": 3}, RetCode.FEATURE_VALUE_ERROR, "'b'"),
        ({"a": 1, "b": None, "c": 3}, RetCode.FEATURE_VALUE_ERROR, "'b'"),
        ({"a": 1, "b": "nan", "c": 3}, RetCode.FEATURE_VALUE_ERROR, "'b'"),
        ("a=1", RetCode.PARAM_ERROR, "featureData must be an object"),
    ],
)
def test_feature_errors_have_distinct_codes_and_name_the_problem(
    feature_data: object, retcode: int, words: str
) -> None:
    with pytest.raises(ServingError) as caught:
        features_in_header_order(_model(), feature_data)
    assert caught.value.retcode == retcode
    assert words in caught.value.message
    assert "high" not in caught.value.message  # values are never echoed (they are logged)


def test_to_number() -> None:
    assert to_number(" 2.5 ") == 2.5
    assert to_number(3) == 3.0
    assert to_number("inf") is None
    assert to_number(10**400) is None
    assert to_number([1]) is None


def test_model_round_trips_through_its_dict() -> None:
    model = _model(host_addresses={"10000": "10.0.0.2:8059"}, timestamp=123)
    assert ServingModel.from_dict(json.loads(json.dumps(model.to_dict()))) == model
    assert model.to_dict()["link"] == "sigmoid"


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"coef": (1.0,)}, "header has 3 names but coef has 1"),
        ({"header": ("a", "a", "b")}, "repeat"),
        ({"role": "arbiter"}, "role"),
        ({"model_id": "../etc"}, "model_id"),
        ({"party_id": "9/9"}, "party_id"),
        ({"role": "host", "intercept": 1.0}, "no intercept"),
        ({"coef": (1.0, float("nan"), 2.0)}, "finite"),
    ],
)
def test_invalid_models_are_refused(overrides: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        _model(**overrides)


def test_unservable_algorithm_is_recorded_but_refused_at_scoring() -> None:
    model = _model(algorithm="hetero_secureboost", header=(), coef=())
    assert not model.servable
    with pytest.raises(ServingError) as caught:
        model.check_servable()
    assert caught.value.retcode == RetCode.MODEL_INIT_ERROR
    assert "hetero_secureboost" in caught.value.message


def test_from_dict_names_the_broken_field() -> None:
    data = _model().to_dict()
    del data["header"]
    with pytest.raises(ValueError, match="header"):
        ServingModel.from_dict(data)
    with pytest.raises(ValueError, match="format"):
        ServingModel.from_dict({**_model().to_dict(), "format": "other"})


def test_fate_guest_lr_output_converts() -> None:
    model = model_from_fate_output(
        _load("fate_output_guest_lr.json"),
        model_id="202611220001",
        model_version="0",
        role="guest",
        party_id=9999,
        guest_party_id=9999,
        host_party_ids=[10000],
        timestamp=5,
    )
    assert model.algorithm == "hetero_lr"
    assert model.header == ("x0", "x1", "x2")
    assert model.coef == (0.4123, -0.2311, 0.0875)
    assert model.intercept == 0.1532
    assert model.host_party_ids == ("10000",)
    assert model.party_id == "9999"


def test_fate_host_lr_output_converts_without_intercept() -> None:
    model = model_from_fate_output(
        _load("fate_output_host_lr.json"),
        model_id="202611220001",
        model_version="0",
        role="host",
        party_id="10000",
        guest_party_id="9999",
        feature_store="host_features.sqlite",
    )
    assert model.algorithm == "hetero_lr"
    assert model.coef == (-0.0521, 0.3317, 0.1204, -0.4408)
    assert model.header == ("x0", "x1", "x2", "x3")
    assert model.intercept is None


def test_fate_linr_output_is_recognised_from_its_meta() -> None:
    model = model_from_fate_output(
        _load("fate_output_guest_linr.json")["data"],
        model_id="m",
        model_version="0",
        role="guest",
        party_id="9999",
        guest_party_id="9999",
    )
    assert model.algorithm == "hetero_linr"
    assert model.link == "identity"
    assert model.intercept == 3.0


def test_multiclass_lr_and_other_components_cannot_be_served() -> None:
    common = {"model_id": "m", "model_version": "0", "role": "guest", "party_id": "1", "guest_party_id": "1"}
    with pytest.raises(UnsupportedModelError, match="one-vs-rest"):
        model_from_fate_output(_load("fate_output_guest_lr_ovr.json"), **common)
    with pytest.raises(UnsupportedModelError):
        model_from_fate_output({"code": 0, "data": {"output_model": {"data": {"trees": []}, "meta": {}}}}, **common)
    with pytest.raises(UnsupportedModelError, match="hetero_sbt"):
        model_from_fate_output(_load("fate_output_guest_lr.json"), algorithm="hetero_sbt", **common)
    with pytest.raises(ValueError, match="code 100"):
        model_from_fate_output({"code": 100, "message": "no found", "data": None}, **common)


def _captured_outputs() -> list[Path]:
    """Real /output/model/query answers captured from FATE 2.2 (another part of the test suite records them)."""
    folder = FIXTURES / "fate_outputs"
    found = []
    for path in sorted(folder.rglob("*.json")) if folder.is_dir() else []:
        try:
            text = path.read_text()
        except OSError:
            continue
        if '"coef_"' in text and '"estimator"' in text:
            found.append(path)
    return found


@pytest.mark.parametrize("path", _captured_outputs() or [None], ids=lambda p: p.name if p else "none-captured")
def test_real_fate_outputs_convert(path: Path | None) -> None:
    if path is None:
        pytest.skip("no captured FATE model output in tests/unit/fixtures/fate_outputs yet")
    document = json.loads(path.read_text())
    role = "host" if "host" in path.name else "guest"
    model = model_from_fate_output(
        document, model_id="m", model_version="0", role=role, party_id="1", guest_party_id="1"
    )
    # The algorithm is told apart by the meta alone, as load_bind may not pass it.
    assert model.algorithm == ("hetero_linr" if "linr" in path.name else "hetero_lr")
    estimator = document["data"]["output_model"]["data"]["estimator"]
    assert model.header == tuple(estimator["header"])
    assert model.coef == tuple(row[0] for row in estimator["param"]["coef_"])
    if role == "host":
        assert model.intercept is None
    else:
        assert model.intercept == estimator["param"]["intercept_"][0]
