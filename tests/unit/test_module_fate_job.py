"""fate_job: submit (given or built DAG), wait, stop, query, check mode; FATE-Flow replayed on loopback."""

from __future__ import annotations

import re
from typing import Any

import pytest
from ansible_collections.fateops.federation.plugins.module_utils import fate_dag
from ansible_collections.fateops.federation.plugins.modules import fate_job
from module_runner import ExitJson, FailJson, module_exits, run_module  # noqa: F401
from test_fate_flow_client import FlowReplay, fixture, fixture_json

SUBMITTED = fixture_json("job_submit")


def run(args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return run_module(fate_job.main, args)


@pytest.fixture
def replay():
    with FlowReplay() as server:
        yield server


def lr_args(replay: FlowReplay, **extra: Any) -> dict[str, Any]:
    arguments = {
        "algorithm": "hetero_lr",
        "guest_party_id": "9999",
        "host_party_ids": ["10000"],
        "guest_table": {"namespace": "experiment", "name": "breast_guest"},
        "host_tables": [{"party_id": "10000", "namespace": "experiment", "name": "breast_host"}],
        "fate_flow_url": replay.url,
        "poll_interval": 0.01,
        "request_retries": 0,
    }
    arguments.update(extra)
    return arguments


def test_submit_built_dag_and_wait(replay):
    replay.add("POST", "/job/submit", fixture("job_submit"))
    replay.add("GET", "/job/query", fixture("job_query_running"), fixture("job_query_success"))
    kind, result = run(lr_args(replay, options={"epochs": 5}))
    assert kind == "exit", result
    assert result["changed"] is True
    assert result["job_id"] == SUBMITTED["job_id"]
    assert result["model_id"] == SUBMITTED["data"]["model_id"] and result["model_version"] == "0"
    assert result["status"] == "success"
    assert result["roles"] == [
        {"role": "arbiter", "party_id": "10000", "status": "success"},
        {"role": "guest", "party_id": "9999", "status": "success"},
        {"role": "host", "party_id": "10000", "status": "success"},
    ]
    (submit,) = replay.calls("POST", "/job/submit")
    dag = submit.json()["dag_schema"]
    assert dag == result["dag_schema"]
    assert dag == fate_dag.hetero_lr_dag(
        "9999", ["10000"], None, ("experiment", "breast_guest"), {"10000": ("experiment", "breast_host")}, {"epochs": 5}
    )


def test_submit_without_waiting(replay):
    replay.add("POST", "/job/submit", fixture("job_submit"))
    replay.add("GET", "/job/query", fixture("job_query_running"))
    kind, result = run(lr_args(replay, wait=False))
    assert kind == "exit" and result["status"] == "running"
    assert len(replay.calls("GET", "/job/query")) == 1


def test_submit_a_given_dag(replay):
    replay.add("POST", "/job/submit", fixture("job_submit"))
    replay.add("GET", "/job/query", fixture("job_query_success"))
    dag = fate_dag.toy_example_dag("9999", ["10000"])
    kind, _ = run({"dag_schema": dag, "fate_flow_url": replay.url, "poll_interval": 0.01})
    assert kind == "exit"
    assert replay.calls("POST", "/job/submit")[0].json() == {"dag_schema": dag}


def test_check_mode_returns_the_dag_and_submits_nothing(replay):
    kind, result = run(
        dict(lr_args(replay, algorithm="example", guest_table=None, host_tables=None), _ansible_check_mode=True)
    )
    assert kind == "exit" and result["changed"] is True
    assert result["dag_schema"]["dag"]["tasks"]["toy_example_0"]["component_ref"] == "toy_example"
    assert replay.requests == []


def test_a_failed_job_fails_with_its_tasks(replay):
    replay.add("POST", "/job/submit", fixture("job_submit"))
    replay.add("GET", "/job/query", fixture("job_query_failed"))
    replay.add("GET", "/job/task/query", fixture("task_query_failed"))
    replay.add("GET", "/log/query", fixture("log_query_task_error"))
    kind, result = run(lr_args(replay))
    assert kind == "fail"
    assert result["status"] == "failed"
    assert result["msg"].startswith(
        f"job {SUBMITTED['job_id']} ended failed; lr_0 (guest 9999) failed: ValueError: Multiple host situation"
    )
    assert "lr_0 (arbiter 10000) failed" in result["msg"]
    assert "evaluation_0" not in result["msg"]  # it never ran: not a cause
    statuses = {t["task_name"]: t["status"] for t in result["failed_tasks"]}
    assert statuses == {"lr_0": "failed", "evaluation_0": "waiting"}


def test_fates_refusal_is_reported(replay):
    replay.add("POST", "/job/submit", fixture("job_submit_invalid"))
    kind, result = run({"dag_schema": {"schema_version": "2.2.0", "dag": {}}, "fate_flow_url": replay.url})
    assert kind == "fail"
    assert result["msg"].startswith("FATE-Flow /job/submit failed with code 6000")
    assert result["fate_code"] == 6000 and result["endpoint"] == "/job/submit"


def test_losing_fate_flow_after_the_submit_still_reports_the_job(replay):
    replay.add("POST", "/job/submit", fixture("job_submit"))
    replay.add("GET", "/job/query", (502, b"<html>502 Bad Gateway</html>"))
    kind, result = run(lr_args(replay))
    assert kind == "fail" and result["changed"] is True
    assert result["job_id"] == SUBMITTED["job_id"]
    assert result["msg"].startswith(f"job {SUBMITTED['job_id']} was submitted, then: FATE-Flow /job/query failed")


def test_wait_timeout_says_how_to_go_on(replay):
    replay.add("POST", "/job/submit", fixture("job_submit"))
    replay.add("GET", "/job/query", fixture("job_query_running"))
    kind, result = run(lr_args(replay, timeout=0))
    assert kind == "fail" and "still running" in result["msg"] and "state=stopped" in result["msg"]
    assert result["job_id"] == SUBMITTED["job_id"] and result["status"] == "running"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"guest_table": None}, "algorithm hetero_lr needs guest_table"),
        ({"host_tables": [{"party_id": "7", "namespace": "n", "name": "x"}]}, "no table given for host\\(s\\) 10000"),
        ({"options": {"epoch": 1}}, "unknown option\\(s\\) for hetero_lr: epoch"),
        ({"host_party_ids": ["10000", "10000"]}, "must be distinct"),
    ],
)
def test_bad_job_inputs(replay, extra, message):
    kind, result = run(lr_args(replay, **extra))
    assert kind == "fail"
    assert result["msg"].startswith("cannot build the job: ")
    assert re.search(message, result["msg"])
    assert replay.requests == []


def test_argument_rules(replay):
    kind, result = run({"fate_flow_url": replay.url})
    assert kind == "fail" and "dag_schema" in result["msg"] and "algorithm" in result["msg"]
    kind, result = run({"state": "queried", "fate_flow_url": replay.url})
    assert kind == "fail" and "job_id" in result["msg"]
    kind, result = run(lr_args(replay, dag_schema={"dag": {}, "schema_version": "2.2.0"}))
    assert kind == "fail" and "mutually exclusive" in result["msg"]
    kind, result = run({"dag_schema": {"dag": {}}, "fate_flow_url": replay.url})
    assert kind == "fail" and "needs 'schema_version' and 'dag'" in result["msg"]


def test_query(replay):
    replay.add("GET", "/job/query", fixture("job_query_two_hosts_success"))
    kind, result = run({"state": "queried", "job_id": "J", "fate_flow_url": replay.url})
    assert kind == "exit" and result["changed"] is False
    assert [(r["role"], r["party_id"]) for r in result["roles"]] == [
        ("arbiter", "10000"),
        ("guest", "9999"),
        ("host", "10000"),
        ("host", "10001"),
    ]
    jobs = fixture_json("job_query_two_hosts_success")["data"]
    assert result["model_id"] == jobs[0]["model_id"] and result["model_version"] == "0"


def test_query_one_role(replay):
    replay.add("GET", "/job/query", fixture("job_query_success"))
    run({"state": "queried", "job_id": "J", "role": "host", "party_id": "10000", "fate_flow_url": replay.url})
    assert replay.requests[0].query == {"job_id": "J", "role": "host", "party_id": "10000"}


def test_query_unknown_job(replay):
    replay.add("GET", "/job/query", fixture("job_query_not_found"))
    kind, result = run({"state": "queried", "job_id": "nope", "fate_flow_url": replay.url})
    assert kind == "fail"
    assert result["msg"] == "FATE-Flow /job/query failed with code 1001: No found job: job_id[nope]"


def test_stop_a_running_job(replay):
    replay.add("GET", "/job/query", fixture("job_query_before_stop"), fixture("job_query_canceled"))
    replay.add("POST", "/job/stop", fixture("job_stop"))
    kind, result = run({"state": "stopped", "job_id": "J", "fate_flow_url": replay.url, "poll_interval": 0.01})
    assert kind == "exit" and result["changed"] is True
    assert result["status"] == "canceled"
    assert replay.calls("POST", "/job/stop")[0].json() == {"job_id": "J"}


def test_stopping_a_finished_job_changes_nothing(replay):
    replay.add("GET", "/job/query", fixture("job_query_success"))
    kind, result = run({"state": "stopped", "job_id": "J", "fate_flow_url": replay.url})
    assert kind == "exit" and result["changed"] is False and result["status"] == "success"
    assert replay.calls("POST", "/job/stop") == []


def test_stop_in_check_mode(replay):
    replay.add("GET", "/job/query", fixture("job_query_running"))
    kind, result = run({"state": "stopped", "job_id": "J", "fate_flow_url": replay.url, "_ansible_check_mode": True})
    assert kind == "exit" and result["changed"] is True
    assert replay.calls("POST", "/job/stop") == []
