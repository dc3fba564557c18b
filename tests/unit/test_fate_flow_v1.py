"""FATE-Flow 1.x calls of the one client (version, model load, bind, migrate) and the detection of the
generation a FATE-Flow speaks, against the loopback replay server.

The fate_outputs/v1_*.json bodies follow the response shapes of FATE-Flow 1.x's documentation and CLI examples
(retcode/retmsg/data/jobId, per-party detail); they were not captured from a running FATE-Flow 1.x.
"""

from __future__ import annotations

import pytest
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_errors import (
    FateFlowConnectionError,
    FateFlowError,
)
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_v1 import (
    GENERATION_1,
    GENERATION_2,
    FateFlowClientV1,
    detect_generation,
)
from test_fate_flow_client import FlowReplay, Sleeps, client_for, fixture, free_port


@pytest.fixture
def replay():
    with FlowReplay() as server:
        yield server


MODEL_ID = "arbiter-10000#guest-9999#host-10000#model"
MODEL_VERSION = "202611221122168817080"


def v1(replay: FlowReplay, endpoint: str, *answers: object) -> None:
    replay.routes[("POST", "/v1" + endpoint)] = list(answers)


def legacy(replay: FlowReplay) -> FateFlowClientV1:
    return FateFlowClientV1(replay.url, timeout=5, sleep=Sleeps())


def test_detects_fate_flow_2(replay):
    replay.add("GET", "/server/fateflow", fixture("server_info"))
    assert detect_generation(client_for(replay)) == GENERATION_2
    assert not [r for r in replay.requests if r.path.startswith("/v1")]


def test_detects_fate_flow_1(replay):
    replay.add("GET", "/server/fateflow", fixture("v1_unknown_endpoint"))
    v1(replay, "/version/get", fixture("v1_version_get"))
    assert detect_generation(client_for(replay)) == GENERATION_1
    (request,) = [r for r in replay.requests if r.path == "/v1/version/get"]
    assert request.method == "POST"
    assert request.json() == {"module": "FATE"}


def test_neither_generation_is_named(replay):
    replay.add("GET", "/server/fateflow", (404, b"<html>nginx</html>"))
    v1(replay, "/version/get", (404, b"<html>nginx</html>"))
    with pytest.raises(FateFlowError, match=r"neither FATE-Flow 2.x .* nor 1.x .* answers at http://127.0.0.1"):
        detect_generation(client_for(replay))


def test_nothing_listening_is_a_connection_error():
    with pytest.raises(FateFlowConnectionError):
        detect_generation(FateFlowClientV1(f"http://127.0.0.1:{free_port()}", retries=0, sleep=Sleeps()))


def test_version(replay):
    v1(replay, "/version/get", fixture("v1_version_get"))
    assert legacy(replay).version() == "1.11.4"


def test_load_sends_the_parties_and_the_model(replay):
    v1(replay, "/model/load", fixture("v1_model_load"))
    data = legacy(replay).load_model(MODEL_ID, MODEL_VERSION, 9999, [10000], [10000])
    assert data["guest"] == {"9999": 0}
    (request,) = replay.requests
    assert request.json() == {
        "initiator": {"party_id": "9999", "role": "guest"},
        "role": {"guest": [9999], "host": [10000], "arbiter": [10000]},
        "job_parameters": {"model_id": MODEL_ID, "model_version": MODEL_VERSION},
    }


def test_load_names_the_party_that_failed(replay):
    v1(replay, "/model/load", fixture("v1_model_load_host_failed"))
    with pytest.raises(FateFlowError, match=r"model not loaded by host 10000: Connection refused: serving-server:8000"):
        legacy(replay).load_model(MODEL_ID, MODEL_VERSION, 9999, [10000])


def test_load_of_unknown_model_carries_fate_code(replay):
    v1(replay, "/model/load", fixture("v1_model_load_not_found"))
    with pytest.raises(FateFlowError) as caught:
        legacy(replay).load_model(MODEL_ID, MODEL_VERSION, 9999, [10000])
    assert caught.value.code == 100
    assert "not found" in str(caught.value)


def test_bind(replay):
    v1(replay, "/model/bind", fixture("v1_model_bind"))
    assert legacy(replay).bind_model(MODEL_ID, MODEL_VERSION, "credit_lr", 9999, [10000]) == "service id is credit_lr"
    assert replay.requests[0].json()["service_id"] == "credit_lr"


def test_migrate_passes_the_seed_config_through(replay):
    config = {
        "job_parameters": {"federated_mode": "MULTIPLE"},
        "role": {"guest": [9999], "host": [10000], "arbiter": [10000]},
        "migrate_initiator": {"role": "guest", "party_id": 99},
        "migrate_role": {"guest": [99], "host": [100], "arbiter": [100]},
        "execute_party": {"guest": [9999], "host": [10000], "arbiter": [10000]},
        "model_id": MODEL_ID,
        "model_version": MODEL_VERSION,
        "unify_model_version": "202611221200000000000",
    }
    v1(replay, "/model/migrate", fixture("v1_model_migrate"))
    data = legacy(replay).migrate_model(config)
    assert set(data["detail"]) == {"guest", "host", "arbiter"}
    assert replay.requests[0].json() == config


def test_migrate_config_must_be_complete(replay):
    with pytest.raises(FateFlowError, match="migration config lacks migrate_role, execute_party"):
        legacy(replay).migrate_model({"model_id": MODEL_ID, "model_version": "1", "role": {}, "migrate_initiator": {}})
    assert replay.requests == []


def test_v1_path_prefix_keeps_a_base_path():
    assert FateFlowClientV1("http://10.0.0.2:9380/replay")._path_prefix == "/replay/v1"
