"""fate_flow_server against the replay server: FATE-Flow 2.2's recorded answer, the documented 1.x answer, a
FATE-Flow that starts late, one that never answers, and a call routed through a proxy by dest-party-id."""

from __future__ import annotations

from typing import Any

import pytest
from ansible_collections.fateops.federation.plugins.modules import fate_flow_server
from module_runner import module_exits, run_module  # noqa: F401
from test_fate_flow_client import CLOSE, FlowReplay, fixture, fixture_json, free_port


@pytest.fixture
def replay():
    with FlowReplay() as server:
        yield server


def args(url: str, **extra: Any) -> dict[str, Any]:
    return {"fate_flow_url": url, "request_retries": 0, "request_timeout": 5, "poll_interval": 0.01, **extra}


def test_fate_flow_2_reports_its_instances(replay):
    replay.add("GET", "/server/fateflow", fixture("server_info"))
    outcome, result = run_module(fate_flow_server.main, args(replay.url))
    assert outcome == "exit", result
    assert (result["changed"], result["generation"]) == (False, 2)
    assert result["instances"] == fixture_json("server_info")["data"]


def test_fate_flow_1_reports_its_release(replay):
    replay.routes[("POST", "/v1/version/get")] = [fixture("v1_version_get")]
    outcome, result = run_module(fate_flow_server.main, args(replay.url, generation=1))
    assert outcome == "exit", result
    assert (result["generation"], result["fate_version"]) == (1, "1.11.4")
    assert [r.path for r in replay.requests] == ["/v1/version/get"]


def test_waits_while_fate_flow_starts(replay):
    # Starting: the connection drops, then a proxy's error page, then a non-zero code, then the answer.
    starting = (CLOSE, (502, b"<html>Bad Gateway</html>"), {"code": 100, "message": "starting"})
    replay.add("GET", "/server/fateflow", *starting, fixture("server_info"))
    outcome, result = run_module(fate_flow_server.main, args(replay.url, wait_timeout=30), check=True)
    assert outcome == "exit", result
    assert len(replay.calls("GET", "/server/fateflow")) == 4
    assert result["instances"]


def test_asks_once_without_a_wait(replay):
    replay.add("GET", "/server/fateflow", {"code": 100, "message": "starting"}, fixture("server_info"))
    outcome, result = run_module(fate_flow_server.main, args(replay.url))
    assert outcome == "fail"
    assert len(replay.calls("GET", "/server/fateflow")) == 1
    assert "code 100: starting" in result["msg"]


def test_gives_up_with_the_last_answer_and_the_way_on():
    outcome, result = run_module(fate_flow_server.main, args(f"http://127.0.0.1:{free_port()}", wait_timeout=0.05))
    assert outcome == "fail"
    assert "no answer within 0.05 s" in result["msg"]
    assert "cannot reach FATE-Flow" in result["msg"]
    assert "slow to start, raise wait_timeout" in result["msg"]


def test_dest_party_id_routes_through_a_proxy(replay):
    replay.add("GET", "/server/fateflow", fixture("server_info"))
    outcome, result = run_module(fate_flow_server.main, args(replay.url, dest_party_id="10000"))
    assert outcome == "exit", result
    assert replay.calls("GET", "/server/fateflow")[0].headers["dest-party-id"] == "10000"
