"""The FATE-Flow REST client against a loopback server replaying answers recorded from a real FATE-Flow 2.2.

The fixtures under fixtures/fate_outputs are bodies exactly as FATE-Flow 2.2.0 sent them; only file-system
paths of the recording machine were replaced by FATE's conventional /data/projects/fate/... paths.
This file also holds FlowReplay, the replay server the module tests import.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_args import (
    client_argument_spec,
    client_from_params,
)
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_errors import (
    FateFlowConnectionError,
    FateFlowError,
    FateFlowTimeout,
)
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_transport import ClientAuth
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_v2 import FateFlowClient
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_wait import (
    PartyStatus,
    overall_status,
    wait_for_job,
    wait_for_table,
)

FIXTURES = Path(__file__).parent / "fixtures" / "fate_outputs"
CLOSE = object()  # a handler result: drop the connection without answering


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def fixture_json(name: str) -> Any:
    return json.loads(fixture(name))


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Answer = bytes | dict | tuple | object | Callable[["Recorded"], Any]


@dataclass
class FlowReplay:
    """A loopback HTTP server that answers like FATE-Flow, from recorded bodies.

    ``add(method, endpoint, *answers)``: successive calls get successive answers, the last one repeats.
    An answer is raw bytes, a dict (sent as JSON), (status, bytes), CLOSE, or a callable of the request.
    """

    routes: dict[tuple[str, str], list[Answer]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)

    def add(self, method: str, endpoint: str, *answers: Answer) -> FlowReplay:
        self.routes[(method, "/v2" + endpoint)] = list(answers)
        return self

    def calls(self, method: str, endpoint: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == "/v2" + endpoint]

    def __enter__(self) -> FlowReplay:
        replay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Recorded(
                    method=self.command,
                    path=parts.path,
                    query={k: v[0] for k, v in parse_qs(parts.query).items()},
                    headers=dict(self.headers.items()),
                    body=self.rfile.read(length) if length else b"",
                )
                replay.requests.append(request)
                answers = replay.routes.get((self.command, parts.path))
                if not answers:
                    answer: Any = (200, b'{"code":6000,"message":"<NotFound \'404: Not Found\'>"}')
                else:
                    answer = answers.pop(0) if len(answers) > 1 else answers[0]
                if callable(answer):
                    answer = answer(request)
                if answer is CLOSE:
                    self.close_connection = True
                    return
                status, body = answer if isinstance(answer, tuple) else (200, answer)
                if isinstance(body, dict):
                    body = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

            do_GET = _serve
            do_POST = _serve

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def flow():
    with FlowReplay() as replay:
        yield replay


def client_for(flow: FlowReplay, **kwargs: Any) -> FateFlowClient:
    kwargs.setdefault("sleep", Sleeps())
    return FateFlowClient(flow.url, timeout=kwargs.pop("timeout", 5), **kwargs)


# addresses


def test_address_forms():
    assert FateFlowClient(host="10.0.0.2", port=9380).base_url == "http://10.0.0.2:9380"
    assert FateFlowClient("10.0.0.2:9380").base_url == "http://10.0.0.2:9380"
    assert FateFlowClient("https://flow.example:8443/").base_url == "https://flow.example:8443"
    with pytest.raises(ValueError, match="not an http"):
        FateFlowClient("ftp://x")


# envelopes and errors


def test_server_info(flow):
    flow.add("GET", "/server/fateflow", fixture("server_info"))
    info = client_for(flow).server_info()
    (instance,) = info.values()
    assert instance["version"] == "2.2.0"
    assert {"host", "http_port", "grpc_port"} <= set(instance)


def test_fate_error_carries_code_message_and_endpoint(flow):
    flow.add("GET", "/job/query", fixture("job_query_not_found"))
    with pytest.raises(FateFlowError) as caught:
        client_for(flow).query_job("nope")
    error = caught.value
    assert error.code == 1001
    assert "No found job" in error.message
    assert str(error) == "FATE-Flow /job/query failed with code 1001: No found job: job_id[nope]"
    assert error.as_dict()["fate_code"] == 1001
    assert len(flow.requests) == 1  # an answer from FATE is never retried


def test_invalid_request_names_the_missing_field(flow):
    flow.add("GET", "/table/query", fixture("table_query_invalid"))
    with pytest.raises(FateFlowError, match="code 5001: Invalid request") as caught:
        client_for(flow).query_table("ns", "")
    assert caught.value.data == {"querystring": {"name": ["Missing data for required field."]}}


def test_unknown_endpoint(flow):
    with pytest.raises(FateFlowError, match="code 6000"):
        client_for(flow).call("GET", "/nothing/here")


def test_a_proxy_page_is_not_taken_for_fate(flow):
    flow.add("GET", "/job/query", (502, b"<html><body>502 Bad Gateway</body></html>"))
    with pytest.raises(FateFlowError) as caught:
        client_for(flow).query_job("j")
    assert caught.value.http_status == 502
    assert "not a FATE-Flow answer" in str(caught.value)
    assert "HTTP 502" in str(caught.value)


# retries


def test_refused_connection_is_retried_with_backoff_then_reported():
    sleeps = Sleeps()
    client = FateFlowClient(port=free_port(), retries=3, backoff=0.5, sleep=sleeps)
    with pytest.raises(FateFlowConnectionError) as caught:
        client.server_info()
    assert sleeps == [0.5, 1.0, 2.0]
    assert "after 4 attempt(s)" in str(caught.value)
    assert "listens on this address" in str(caught.value)


def test_a_submit_that_never_left_is_retried():
    sleeps = Sleeps()
    client = FateFlowClient(port=free_port(), retries=2, sleep=sleeps)
    with pytest.raises(FateFlowConnectionError):
        client.submit_job({"schema_version": "2.2.0", "dag": {}})
    assert len(sleeps) == 2


def test_a_submit_that_reached_the_server_is_never_sent_again(flow):
    flow.add("POST", "/job/submit", CLOSE, fixture("job_submit"))
    client = client_for(flow, retries=3)
    with pytest.raises(FateFlowConnectionError) as caught:
        client.submit_job({"schema_version": "2.2.0", "dag": {}})
    assert len(flow.calls("POST", "/job/submit")) == 1
    assert "may have reached FATE-Flow, so it was not repeated" in str(caught.value)


def test_an_upload_that_reached_the_server_is_never_sent_again(flow):
    flow.add("POST", "/data/component/upload", CLOSE)
    with pytest.raises(FateFlowConnectionError):
        client_for(flow).upload("/data/g.csv", "ns", "g", {"delimiter": ","})
    assert len(flow.requests) == 1


def test_a_dropped_query_is_retried(flow):
    flow.add("GET", "/job/query", CLOSE, fixture("job_query_success"))
    client = client_for(flow)
    jobs = client.query_job("202611220343389966460")
    assert len(flow.requests) == 2
    assert {j["status"] for j in jobs} == {"success"}
    assert client._sleep == [0.5]


def test_a_slow_query_times_out_and_is_retried(flow):
    def slow(request: Recorded) -> Any:
        time.sleep(0.6)
        return fixture("server_info")

    flow.add("GET", "/server/fateflow", slow)
    client = client_for(flow, timeout=0.2, retries=1)
    with pytest.raises(FateFlowConnectionError, match=r"TimeoutError|timed out"):
        client.server_info()
    assert len(flow.requests) == 2


def test_a_slow_submit_times_out_and_is_not_repeated(flow):
    def slow(request: Recorded) -> Any:
        time.sleep(0.6)
        return fixture("job_submit")

    flow.add("POST", "/job/submit", slow)
    with pytest.raises(FateFlowConnectionError):
        client_for(flow, timeout=0.2, retries=3).submit_job({"schema_version": "2.2.0", "dag": {}})
    assert len(flow.requests) == 1


# data and tables


def test_upload_sends_fates_fields(flow):
    flow.add("POST", "/data/component/upload", fixture("upload_submit"))
    meta = {"delimiter": ",", "match_id_name": "id", "label_name": "y", "label_type": "int64", "dtype": "float64"}
    job_id = client_for(flow).upload("/data/g.csv", "experiment", "breast_guest", meta, partitions=4)
    assert job_id == fixture_json("upload_submit")["job_id"]
    (request,) = flow.requests
    assert request.headers["Content-Type"] == "application/json"
    assert request.json() == {
        "file": "/data/g.csv",
        "head": True,
        "partitions": 4,
        "extend_sid": True,
        "meta": meta,
        "namespace": "experiment",
        "name": "breast_guest",
    }


def test_query_table_found_and_missing(flow):
    flow.add("GET", "/table/query", fixture("table_query_found"), fixture("table_query_missing"))
    client = client_for(flow)
    table = client.query_table("experiment", "breast_guest")
    assert table["count"] == 569
    fields = table["meta"]["schema_meta"]["fields"]
    assert [f["name"] for f in fields[:3]] == ["extend_sid", "id", "y"]
    assert client.query_table("experiment", "nothing") is None
    assert flow.requests[0].query == {"namespace": "experiment", "name": "breast_guest"}


def test_delete_table(flow):
    flow.add("POST", "/table/delete", fixture("table_delete"), fixture("table_delete_missing"))
    client = client_for(flow)
    assert client.delete_table("experiment", "probe") is True
    assert client.delete_table("experiment", "probe") is False
    assert flow.requests[0].json() == {"namespace": "experiment", "name": "probe"}


def test_wait_for_table_after_the_upload_job(flow):
    flow.add("GET", "/job/query", fixture("upload_job_query_running"), fixture("upload_job_query_success"))
    flow.add("GET", "/table/query", fixture("table_query_found"))
    client = client_for(flow)
    table = wait_for_table(client, "experiment", "breast_guest", upload_job_id="J", poll_interval=0.01)
    assert table["count"] == 569
    assert flow.calls("GET", "/job/query")[0].query == {"job_id": "J", "role": "local", "party_id": "0"}
    # The table is only looked at once the upload job succeeded.
    assert [r.path for r in flow.requests] == ["/v2/job/query", "/v2/job/query", "/v2/table/query"]


def test_wait_for_table_reports_a_failed_upload(flow):
    flow.add("GET", "/job/query", fixture("upload_job_query_failed"))
    flow.add("GET", "/job/task/query", fixture("upload_task_query_failed"))
    flow.add("GET", "/log/query", fixture("upload_log_query_task_error"))
    with pytest.raises(FateFlowError) as caught:
        wait_for_table(client_for(flow), "experiment", "m", upload_job_id="J", poll_interval=0.01)
    assert "upload job J ended with status failed" in str(caught.value)
    assert "upload_0 failed: FileNotFoundError: [Errno 2] No such file or directory" in str(caught.value)


def test_wait_for_table_times_out(flow):
    flow.add("GET", "/job/query", fixture("upload_job_query_running"))
    with pytest.raises(FateFlowTimeout, match=r"did not appear within 0\.05 s"):
        wait_for_table(client_for(flow), "e", "t", upload_job_id="J", timeout=0.05, poll_interval=0.01)


# jobs


def test_submit_job(flow):
    flow.add("POST", "/job/submit", fixture("job_submit"))
    dag = {"schema_version": "2.2.0", "dag": {"parties": []}}
    submitted = client_for(flow).submit_job(dag)
    recorded = fixture_json("job_submit")
    assert submitted.job_id == recorded["job_id"]
    assert submitted.model_id == recorded["data"]["model_id"]
    assert submitted.model_version == "0"
    assert flow.requests[0].json() == {"dag_schema": dag}


def test_submit_error_from_fate(flow):
    flow.add("POST", "/job/submit", fixture("job_submit_invalid"))
    with pytest.raises(FateFlowError, match="/job/submit failed with code 6000: ValidationError"):
        client_for(flow).submit_job({"dag": {}})


def test_job_statuses_arbiter_guest_hosts(flow):
    flow.add("GET", "/job/query", fixture("job_query_two_hosts_success"))
    statuses = client_for(flow).job_statuses("J")
    assert [(s.role, s.party_id) for s in statuses] == [
        ("arbiter", "10000"),
        ("guest", "9999"),
        ("host", "10000"),
        ("host", "10001"),
    ]
    assert {s.status for s in statuses} == {"success"}


def test_one_party_id_in_every_role(flow):
    flow.add("GET", "/job/query", fixture("job_query_single_id_success"))
    statuses = client_for(flow).job_statuses("J")
    assert [(s.role, s.party_id, s.status) for s in statuses] == [
        ("arbiter", "1", "success"),
        ("guest", "1", "success"),
        ("host", "1", "success"),
    ]


def test_wait_for_job_polls_until_every_role_ends(flow):
    flow.add("GET", "/job/query", fixture("job_query_running"), fixture("job_query_success"))
    seen: list[list[PartyStatus]] = []
    statuses = wait_for_job(client_for(flow), "J", poll_interval=0.01, on_poll=seen.append)
    assert len(seen) == 2
    assert overall_status(seen[0]) == "running"
    assert overall_status(statuses) == "success"


def test_wait_for_job_timeout_keeps_the_last_statuses(flow):
    flow.add("GET", "/job/query", fixture("job_query_running"))
    with pytest.raises(FateFlowTimeout) as caught:
        wait_for_job(client_for(flow), "J", timeout=0.03, poll_interval=0.01)
    assert "still running" in str(caught.value)
    assert {r["status"] for r in caught.value.data} == {"running"}


def test_stop_and_tasks(flow):
    flow.add("POST", "/job/stop", fixture("job_stop"))
    flow.add("GET", "/job/task/query", fixture("task_query_success"))
    client = client_for(flow)
    client.stop_job("J")
    assert flow.requests[0].json() == {"job_id": "J"}
    tasks = client.query_tasks("J", role="guest")
    assert {t["task_name"] for t in tasks} >= {"reader_0", "psi_0", "lr_0", "evaluation_0"}
    assert client.failed_tasks("J") == []


def test_failed_tasks_carry_the_exception_their_log_ends_with(flow):
    flow.add("GET", "/job/task/query", fixture("upload_task_query_failed"))
    flow.add("GET", "/log/query", fixture("upload_log_query_task_error"))
    failed = client_for(flow).failed_tasks("J")
    assert failed == [
        {
            "task_name": "upload_0",
            "role": "local",
            "party_id": "0",
            "status": "failed",
            "error": "FileNotFoundError: [Errno 2] No such file or directory: "
            "'/data/projects/fate/examples/data/missing.csv'",
        },
        # Never started because upload_0 failed: no log to read.
        {"task_name": "transformer_0", "role": "local", "party_id": "0", "status": "waiting", "error": None},
    ]
    assert len(flow.calls("GET", "/log/query")) == 1
    assert flow.calls("GET", "/log/query")[0].query == {
        "log_type": "task_error",
        "job_id": "J",
        "role": "local",
        "party_id": "0",
        "task_name": "upload_0",
    }


def test_task_error_of_a_training_task(flow):
    flow.add("GET", "/log/query", fixture("log_query_task_error"))
    error = client_for(flow).task_error("J", "arbiter", "10000", "lr_0")
    assert error.startswith("ValueError: Multiple host situation, loss early stop function is not available")


def test_task_error_is_none_when_the_log_cannot_be_read(flow):
    flow.add("GET", "/log/query", {"code": 6000, "message": "no found log"})
    assert client_for(flow).task_error("J", "guest", "9999", "lr_0") is None


def test_tasks_of_an_unknown_job_are_none(flow):
    flow.add("GET", "/job/task/query", fixture("task_query_not_found"))
    assert client_for(flow).query_tasks("nope") == []


@pytest.mark.parametrize(
    ("words", "overall"),
    [
        (["success", "success"], "success"),
        (["success", "pass"], "success"),
        (["success", "failed", "running"], "failed"),
        (["canceled", "success"], "canceled"),
        (["running", "waiting"], "running"),
        (["success", "waiting"], "running"),
        (["waiting", "waiting"], "waiting"),
        ([], "unknown"),
    ],
)
def test_overall_status(words, overall):
    assert overall_status(PartyStatus("guest", str(i), w) for i, w in enumerate(words)) == overall


# outputs


def test_output_model_of_the_guest_and_the_host(flow):
    flow.add("GET", "/output/model/query", fixture("output_model_lr_guest"), fixture("output_model_lr_host"))
    client = client_for(flow)
    guest = client.output_model("J", "guest", "9999", "lr_0")
    estimator = guest["output_model"]["data"]["estimator"]
    assert len(estimator["param"]["coef_"]) == len(estimator["header"]) == 10
    assert len(estimator["param"]["intercept_"]) == 1
    host = client.output_model("J", "host", 10000, "lr_0")
    estimator = host["output_model"]["data"]["estimator"]
    assert len(estimator["param"]["coef_"]) == len(estimator["header"]) == 20
    assert estimator["param"]["intercept_"] is None
    assert flow.requests[1].query == {"job_id": "J", "role": "host", "party_id": "10000", "task_name": "lr_0"}


def test_output_metric_auc(flow):
    flow.add("GET", "/output/metric/query", fixture("output_metric_lr_evaluation"))
    metrics = client_for(flow).output_metric("J", "guest", "9999", "evaluation_0")
    train_set = metrics[0]["data"]["lr_0"]["train_set"]
    assert train_set[0]["metric"] == "auc" and train_set[0]["val"] >= 0.95


def test_output_data_display_and_table(flow):
    flow.add("GET", "/output/data/display", fixture("output_data_display_lr_guest"))
    flow.add("GET", "/output/data/table", fixture("output_data_table_lr_guest"))
    client = client_for(flow)
    display = client.output_data_display("J", "guest", "9999", "lr_0")
    assert display is not None
    assert client.output_data_table("J", "guest", "9999", "lr_0") is not None


def test_download_returns_bytes_or_fates_error(flow):
    flow.add("GET", "/output/data/download", (200, b"\x1f\x8barchive"), fixture("task_query_not_found"))
    client = client_for(flow)
    assert client.output_data_download("J", "guest", "9999", "lr_0") == b"\x1f\x8barchive"
    with pytest.raises(FateFlowError, match="code 2000"):
        client.output_data_download("J", "guest", "9999", "nope")


# models


def test_export_and_delete_model(flow):
    flow.add("POST", "/model/export", fixture("model_export"))
    flow.add("POST", "/model/delete", fixture("model_delete"), fixture("model_delete_none"))
    client = client_for(flow)
    client.export_model("J", "0", "guest", 9999, "/data/export")
    assert flow.requests[0].json() == {
        "model_id": "J",
        "model_version": "0",
        "role": "guest",
        "party_id": "9999",
        "path": "/data/export",
    }
    assert client.delete_model("J", 0, role="guest", party_id="9999") is True
    assert flow.requests[1].json() == {"model_id": "J", "model_version": "0", "role": "guest", "party_id": "9999"}
    assert client.delete_model("J", 0) is False


def test_import_model_is_multipart(flow, tmp_path):
    archive = tmp_path / "guest_9999.zip"
    archive.write_bytes(b"PK\x03\x04zip-bytes\r\n--not-a-boundary")
    flow.add("POST", "/model/import", fixture("model_import"))
    client_for(flow).import_model("J", "0", archive)
    (request,) = flow.requests
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode() + request.body
    )
    parts = {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()}
    assert parts["model_id"].get_content().strip() == "J"
    assert parts["model_version"].get_content().strip() == "0"
    assert parts["file"].get_filename() == "guest_9999.zip"
    assert parts["file"].get_payload(decode=True) == archive.read_bytes()


def test_import_model_needs_the_file(flow, tmp_path):
    with pytest.raises(FateFlowError, match="does not exist"):
        client_for(flow).import_model("J", "0", tmp_path / "none.zip")
    assert flow.requests == []


# client authentication


def test_signature_is_fates_double_md5():
    auth = ClientAuth(app_id="app", app_token="secret", user_name="alice")
    headers = auth.headers(timestamp_ms=1700000000000, nonce="0042")
    inner = hashlib.md5(b"appalice00421700000000000").hexdigest()
    assert headers == {
        "appId": "app",
        "userName": "alice",
        "Timestamp": "1700000000000",
        "Nonce": "0042",
        "Signature": hashlib.md5((inner + "secret").encode()).hexdigest(),
    }
    assert "secret" not in repr(auth)


def test_auth_headers_are_fresh_on_every_request(flow):
    flow.add("GET", "/server/fateflow", fixture("server_info"))
    client = client_for(flow, auth=ClientAuth("app", "secret"))
    client.server_info()
    client.server_info()
    first, second = (r.headers for r in flow.requests)
    assert first["appId"] == "app" and len(first["Nonce"]) == 4 and first["Nonce"].isdigit()
    assert "Signature" in first and "secret" not in json.dumps(first)
    assert int(second["Timestamp"]) >= int(first["Timestamp"])


@pytest.mark.parametrize(
    ("recorded", "code", "message"),
    [("auth_missing", 5001, "Invalid parameter: name[appId]"), ("auth_verify_failed", 5003, "varify failed!")],
)
def test_authentication_refusals(flow, recorded, code, message):
    flow.add("GET", "/server/fateflow", fixture(recorded))
    with pytest.raises(FateFlowError) as caught:
        client_for(flow, auth=ClientAuth("admin", "wrong")).server_info()
    assert (caught.value.code, caught.value.message) == (code, message)


def test_client_from_module_params():
    params = {name: spec.get("default") for name, spec in client_argument_spec().items()}
    client = client_from_params(params)
    assert client.base_url == "http://127.0.0.1:9380" and client.auth is None and client.retries == 3
    params.update(fate_flow_url="http://10.1.1.1:9381", app_id="a", app_token="t", request_retries=0)
    client = client_from_params(params)
    assert client.base_url == "http://10.1.1.1:9381" and client.auth.app_id == "a" and client.retries == 0
    assert client_argument_spec()["app_token"]["no_log"] is True
