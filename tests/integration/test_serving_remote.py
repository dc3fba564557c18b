"""A host party that does not answer the guest's serving service: the remote-error JSON, quickly, not a hang;
then served again as before once it answers. On the models lane's model (conftest.models_lane_model: guest 9999,
host 10000 on one host, bound as MODELS_LANE_SERVICE).

On one host a single serving process plays every party and answers its own hosts without the network; for this
test it plays only the guest, and the host is reached through its peers entry, like a remote one, at a port
nobody listens on."""

from __future__ import annotations

import math
import time

import pytest
import yaml

from .conftest import (
    MODELS_LANE,
    MODELS_LANE_ROWS,
    MODELS_LANE_SERVICE,
    TrainedModel,
    guest_row,
    predict,
    restart_serving,
)

pytestmark = pytest.mark.integration


def test_a_host_that_does_not_answer(models_lane_model: TrainedModel):
    facade, base_dir = models_lane_model.facade, MODELS_LANE.base_dir
    config = base_dir / "standalone" / "serving" / "serving.yaml"
    original = config.read_text()
    settings = yaml.safe_load(original)
    settings["party_ids"] = ["9999"]
    settings["peers"] = {**settings["peers"], "10000": "127.0.0.1:1"}
    row_id = MODELS_LANE_ROWS[1]
    values = guest_row(models_lane_model.data["guest"], row_id)
    try:
        config.write_text(yaml.safe_dump(settings))
        restart_serving(base_dir, MODELS_LANE.serving_port)
        started = time.monotonic()
        rc, answer = predict(facade, MODELS_LANE_SERVICE, f"id={row_id}", *values)
        assert rc != 0
        assert answer["retcode"] == 105 and "remote rpc exception" in answer["retmsg"].lower(), answer
        assert answer["prob"] is None, answer
        assert time.monotonic() - started < 15
    finally:
        config.write_text(original)
        restart_serving(base_dir, MODELS_LANE.serving_port)
    rc, answer = predict(facade, MODELS_LANE_SERVICE, f"id={row_id}", *values)
    assert rc == 0, answer
    assert math.isclose(answer["prob"], models_lane_model.probs[row_id], abs_tol=1e-6)
