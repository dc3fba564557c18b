"""fate_model_serving against the replay server: FATE-Flow 1.x answers (documented shapes) for load, bind and
migrate, and a FATE-Flow 2.x that it refuses with the way out."""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.fateops.federation.plugins.modules import fate_model_serving
from module_runner import module_exits, run_module  # noqa: F401
from test_fate_flow_client import FlowReplay, fixture

MODEL = {"model_id": "arbiter-10000#guest-9999#host-10000#model", "model_version": "202611221122168817080"}


@pytest.fixture
def replay():
    with FlowReplay() as server:
        yield server


def legacy_flow(replay: FlowReplay, **routes: bytes) -> None:
    replay.add("GET", "/server/fateflow", fixture("v1_unknown_endpoint"))
    replay.routes[("POST", "/v1/version/get")] = [fixture("v1_version_get")]
    for endpoint, body in routes.items():
        replay.routes[("POST", f"/v1/model/{endpoint}")] = [body]


def bind_args(replay: FlowReplay, **extra: Any) -> dict[str, Any]:
    return {
        "fate_flow_url": replay.url,
        "request_retries": 0,
        "operation": "bind",
        "service_id": "credit_lr",
        "guest_party_id": 9999,
        "host_party_ids": [10000],
        **MODEL,
        **extra,
    }


def paths(replay: FlowReplay) -> list[str]:
    return [r.path for r in replay.requests]


def test_bind_loads_then_binds(replay):
    legacy_flow(replay, load=fixture("v1_model_load"), bind=fixture("v1_model_bind"))
    outcome, result = run_module(fate_model_serving.main, bind_args(replay))
    assert outcome == "exit", result
    assert (result["changed"], result["generation"], result["fate_version"]) == (True, 1, "1.11.4")
    assert result["message"] == "service id is credit_lr"
    assert paths(replay)[-2:] == ["/v1/model/load", "/v1/model/bind"]


def test_a_party_that_did_not_load_stops_before_bind(replay):
    legacy_flow(replay, load=fixture("v1_model_load_host_failed"), bind=fixture("v1_model_bind"))
    outcome, result = run_module(fate_model_serving.main, bind_args(replay))
    assert outcome == "fail"
    assert "host 10000: Connection refused" in result["msg"]
    assert "/v1/model/bind" not in paths(replay)


def test_check_mode_only_detects(replay):
    legacy_flow(replay)
    outcome, result = run_module(fate_model_serving.main, bind_args(replay), check=True)
    assert (outcome, result["changed"], result["generation"]) == ("exit", True, 1)
    assert not [p for p in paths(replay) if p.startswith("/v1/model")]


def test_migrate(replay):
    legacy_flow(replay, migrate=fixture("v1_model_migrate"))
    config = {**MODEL, "role": {"guest": [9999]}, "migrate_initiator": {"role": "guest", "party_id": 99},
              "migrate_role": {"guest": [99]}, "execute_party": {"guest": [9999]}}  # fmt: skip
    args = {"fate_flow_url": replay.url, "request_retries": 0, "operation": "migrate", "migrate_config": config}
    outcome, result = run_module(fate_model_serving.main, args)
    assert outcome == "exit", result
    assert set(result["detail"]) == {"guest", "host", "arbiter"}


def test_fate_flow_2_is_refused_with_the_way_out(replay):
    replay.add("GET", "/server/fateflow", fixture("server_info"))
    outcome, result = run_module(fate_model_serving.main, bind_args(replay))
    assert outcome == "fail"
    assert "is 2.x, which has no model load, bind or migrate" in result["msg"]
    assert "-f load_bind" in result["msg"]
