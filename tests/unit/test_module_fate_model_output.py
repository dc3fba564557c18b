"""fate_model_output against the replay server: FATE-Flow 2.2's recorded /output/model/query answers are written
to a file on the module's host, and only a digest comes back (the weights never reach the controller)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.fateops.federation.plugins.modules import fate_model_output
from module_runner import module_exits, run_module  # noqa: F401
from test_fate_flow_client import FlowReplay, fixture, fixture_json

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "serving"))
import serving_harness  # noqa: F401  (puts the serving package on sys.path)
from fateops_serving.fate_output import model_from_fate_output


@pytest.fixture
def replay():
    with FlowReplay() as server:
        yield server


def args(replay: FlowReplay, dest: Path, **extra: Any) -> dict[str, Any]:
    return {
        "fate_flow_url": replay.url,
        "request_retries": 0,
        "job_id": "202611221122168817080",
        "role": "guest",
        "party_id": "9999",
        "task_name": "lr_0",
        "dest": str(dest),
        **extra,
    }


def coefficients(name: str) -> list[str]:
    param = fixture_json(name)["data"]["output_model"]["data"]["estimator"]["param"]
    return [json.dumps(row[0]) for row in param["coef_"] if row[0] not in (0, 0.0)]


def test_writes_the_model_on_the_host_and_returns_only_a_digest(replay, tmp_path: Path):
    replay.add("GET", "/output/model/query", fixture("output_model_lr_guest"))
    dest = tmp_path / "model.json"
    outcome, result = run_module(fate_model_output.main, args(replay, dest))
    assert outcome == "exit", result
    content = dest.read_bytes()
    assert json.loads(content) == fixture_json("output_model_lr_guest")["data"]
    assert result["changed"] is True
    assert (result["sha256"], result["size"]) == (hashlib.sha256(content).hexdigest(), len(content))
    assert result["outputs"] == ["output_model"]
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o640
    # Nothing of the model is in what goes back to the controller.
    returned = json.dumps(result)
    assert coefficients("output_model_lr_guest") and not [
        c for c in coefficients("output_model_lr_guest") if c in returned
    ]
    assert "estimator" not in returned
    assert replay.requests[0].query == {
        "job_id": "202611221122168817080",
        "role": "guest",
        "party_id": "9999",
        "task_name": "lr_0",
    }


def test_the_serving_bind_reads_the_file(replay, tmp_path: Path):
    replay.add("GET", "/output/model/query", fixture("output_model_lr_host"))
    dest = tmp_path / "host.json"
    outcome, result = run_module(fate_model_output.main, args(replay, dest, role="host", party_id="10000"))
    assert outcome == "exit", result
    model = model_from_fate_output(
        json.loads(dest.read_text()), model_id="M", model_version="0", role="host", party_id="10000",
        guest_party_id="9999",
    )  # fmt: skip
    assert len(model.header) == 20


def test_same_model_again_changes_nothing_and_another_rewrites(replay, tmp_path: Path):
    dest = tmp_path / "model.json"
    replay.add(
        "GET", "/output/model/query", fixture("output_model_lr_guest"), fixture("output_model_lr_guest"),
        fixture("output_model_linr_guest"),
    )  # fmt: skip
    assert run_module(fate_model_output.main, args(replay, dest))[1]["changed"] is True
    before = dest.stat().st_mtime_ns
    outcome, result = run_module(fate_model_output.main, args(replay, dest))
    assert (outcome, result["changed"], dest.stat().st_mtime_ns) == ("exit", False, before)
    outcome, result = run_module(fate_model_output.main, args(replay, dest))
    assert (outcome, result["changed"]) == ("exit", True)
    assert json.loads(dest.read_text()) == fixture_json("output_model_linr_guest")["data"]


def test_a_mode_change_alone_is_a_change(replay, tmp_path: Path):
    dest = tmp_path / "model.json"
    replay.add("GET", "/output/model/query", fixture("output_model_lr_guest"))
    run_module(fate_model_output.main, args(replay, dest))
    outcome, result = run_module(fate_model_output.main, args(replay, dest, mode="0600"))
    assert (outcome, result["changed"], stat.S_IMODE(os.stat(dest).st_mode)) == ("exit", True, 0o600)


def test_check_mode_asks_but_writes_nothing(replay, tmp_path: Path):
    dest = tmp_path / "model.json"
    replay.add("GET", "/output/model/query", fixture("output_model_lr_guest"))
    outcome, result = run_module(fate_model_output.main, args(replay, dest), check=True)
    assert (outcome, result["changed"]) == ("exit", True)
    assert not dest.exists() and len(replay.requests) == 1


def test_fate_flow_errors_and_an_empty_answer_fail_clearly(replay, tmp_path: Path):
    replay.add("GET", "/output/model/query", fixture("task_query_not_found"), {"code": 0, "message": "", "data": {}})
    dest = tmp_path / "model.json"
    outcome, result = run_module(fate_model_output.main, args(replay, dest))
    assert outcome == "fail" and result["endpoint"] == "/output/model/query", result
    outcome, result = run_module(fate_model_output.main, args(replay, dest))
    assert outcome == "fail"
    assert result["msg"].startswith("FATE-Flow holds no model output for task lr_0 of job 202611221122168817080")
    assert not dest.exists()


def test_a_missing_directory_is_named(replay, tmp_path: Path):
    replay.add("GET", "/output/model/query", fixture("output_model_lr_guest"))
    outcome, result = run_module(fate_model_output.main, args(replay, tmp_path / "none" / "model.json"))
    assert (
        outcome == "fail" and result["msg"] == f"directory {tmp_path / 'none'} of dest does not exist; create it first"
    )
