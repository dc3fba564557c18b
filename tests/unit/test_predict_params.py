"""predict's -params: the match id under "id" or under the data's own match column name."""

from __future__ import annotations

import pytest

from fateops.serving import PredictError, parse_params


def test_bare_values_and_id_are_the_seed_form():
    assert parse_params(["0.5", "-1", "id=42"]) == ([0.5, -1.0], "42")


@pytest.mark.parametrize("key", ["id", "uid"])
def test_the_match_id_under_id_or_the_match_column(key):
    features, match_id = parse_params(["age=0.5", "income=-1", f"{key}=cust-00012"], ["id", "uid"])
    assert features == {"age": 0.5, "income": -1.0}
    assert match_id == "cust-00012"


def test_the_match_column_is_not_a_feature_with_bare_values():
    assert parse_params(["0.5", "uid=c1"], ["id", "uid"]) == ([0.5], "c1")


def test_a_column_that_is_not_a_match_column_stays_a_feature():
    features, match_id = parse_params(["uid=7", "age=1"], ["id"])
    assert (features, match_id) == ({"uid": 7.0, "age": 1.0}, None)


def test_two_different_ids_are_refused():
    with pytest.raises(PredictError, match="two match ids given"):
        parse_params(["1", "id=a", "uid=b"], ["id", "uid"])


def test_the_same_id_twice_is_one_id():
    assert parse_params(["1", "id=a", "uid=a"], ["id", "uid"]) == ([1.0], "a")
