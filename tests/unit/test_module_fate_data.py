"""fate_data: CSV checks, meta inference, idempotent upload, check mode; FATE-Flow replayed on loopback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.fateops.federation.plugins.modules import fate_data
from ansible_collections.fateops.federation.plugins.modules.fate_data import CsvProblem, inspect_csv
from module_runner import ExitJson, FailJson, module_exits, run_module  # noqa: F401
from test_fate_flow_client import FlowReplay, fixture, fixture_json

UPLOAD_JOB = fixture_json("upload_submit")["job_id"]
GUEST_CSV = "id,y,x0,x1\n1,0,0.5,1.5\n2,1,-0.2,0.1\n3,1,0.3,0.3\n"
HOST_CSV = "id,x0,x1,x2\n1,0.5,1.5,2\n2,-0.2,0.1,3\n3,0.3,0.3,4\n"


def run(args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return run_module(fate_data.main, args)


class FakeFlow:
    """FATE-Flow's table lifecycle: missing, upload accepted, job succeeded, table present."""

    def __init__(self, replay: FlowReplay, table_exists: bool = False, upload_status: str = "success"):
        self.replay = replay
        self.table_exists = table_exists
        replay.add("GET", "/table/query", self._table)
        replay.add("POST", "/table/delete", self._delete)
        replay.add("POST", "/data/component/upload", self._upload)
        replay.add("GET", "/job/query", fixture(f"upload_job_query_{upload_status}"))
        replay.add("GET", "/job/task/query", fixture("upload_task_query_failed"))
        replay.add("GET", "/log/query", fixture("upload_log_query_task_error"))
        self.upload_status = upload_status

    def _table(self, request: Any) -> bytes:
        return fixture("table_query_found") if self.table_exists else fixture("table_query_missing")

    def _delete(self, request: Any) -> bytes:
        self.table_exists = False
        return fixture("table_delete")

    def _upload(self, request: Any) -> bytes:
        self.table_exists = self.upload_status == "success"
        return fixture("upload_submit")

    def posts(self, endpoint: str) -> list[Any]:
        return self.replay.calls("POST", endpoint)


@pytest.fixture
def replay():
    with FlowReplay() as server:
        yield server


@pytest.fixture
def guest_csv(tmp_path) -> Path:
    path = tmp_path / "guest.csv"
    path.write_text(GUEST_CSV)
    return path


def args_for(replay: FlowReplay, path: Path, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    arguments = {
        "path": str(path),
        "namespace": "experiment",
        "name": "breast_guest",
        "role": "guest",
        "state_dir": str(tmp_path / "state"),
        "fate_flow_url": replay.url,
        "poll_interval": 0.01,
        "wait_timeout": 5,
        "request_retries": 0,
    }
    arguments.update(extra)
    return arguments


# reading the file


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_guest_meta_is_inferred(tmp_path):
    facts = inspect_csv(write(tmp_path, GUEST_CSV), role="guest")
    assert facts.header == ["id", "y", "x0", "x1"]
    assert (facts.id_name, facts.label_name, facts.label_type, facts.rows) == ("id", "y", "int64", 3)
    assert len(facts.sha256) == 64


def test_label_column_called_label_and_float_labels(tmp_path):
    facts = inspect_csv(write(tmp_path, "uid,label,x0\na,1.5,1\nb,2,2\n"), role="guest")
    assert (facts.id_name, facts.label_name, facts.label_type) == ("uid", "label", "float64")


def test_integral_floats_are_float_labels(tmp_path):
    # FATE parses an int label type with int(): "151.000000" failed a real upload as int64.
    facts = inspect_csv(write(tmp_path, "id,y,x0\n1,151.000000,1\n2,75,2\n"), role="guest")
    assert facts.label_type == "float64"


def test_host_has_no_label_unless_named(tmp_path):
    path = write(tmp_path, "id,y,x0\n1,0,1\n2,1,2\n")
    assert inspect_csv(path, role="host").label_name is None
    assert inspect_csv(path, role="host", label_name="y").label_name == "y"
    assert inspect_csv(path, role="guest", label_name="").label_name is None
    assert inspect_csv(path, role="guest", label_type="int32").label_type == "int32"


def test_overridden_id_column(tmp_path):
    facts = inspect_csv(write(tmp_path, "x0,uid,x1\n1,a,2\n3,b,4\n"), role="host", id_name="uid")
    assert facts.id_name == "uid"


def test_byte_order_mark_and_crlf(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffid,y,x0\r\n1,0,1\r\n2,1,2\r\n".encode())
    facts = inspect_csv(path, role="guest")
    assert facts.header == ["id", "y", "x0"] and facts.rows == 2


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("", {}, "is empty or starts with a blank line: it needs a header line"),
        ("\n1,2\n", {}, "is empty or starts with a blank line"),
        ("1,0,0.5\n2,1,0.3\n", {}, "has no header: its first line .* is data; add a line of column names"),
        ("id,y,x0\n", {}, "has a header but no data lines"),
        ("id,x0\n1,2\n", {"id_name": "uid"}, "has no id column 'uid' \\(header: id, x0\\): fix id_name"),
        ("id,x0\n1,2\n", {"label_name": "target"}, "label column 'target' is not in the header"),
        ("id,y\n1,0\n", {}, "no feature column besides id and label"),
        ("id,y,x0\n1,0,1\n2,1\n", {}, "line 3 has 2 fields, the header has 3: fix that line"),
        ("id,y,x0\n1,0,1\n1,1,2\n", {}, "line 3 repeats id 1: ids must be unique"),
        ("id,y,x0\n,0,1\n", {}, "line 2 has an empty id"),
        ("id,y,x0\n1,yes,1\n", {}, "non-numeric label 'yes' in column 'y'"),
        ("id,id,x0\n1,2,3\n", {}, "repeats column\\(s\\) id"),
        ("id,,x0\n1,2,3\n", {}, "empty column name"),
        ("id,y,x0\n1,0,1\n", {"id_name": "y"}, "cannot be both the id and the label"),
    ],
)
def test_bad_files_name_the_problem_and_the_fix(tmp_path, text, kwargs, message):
    with pytest.raises(CsvProblem, match=message):
        inspect_csv(write(tmp_path, text), role="guest", **kwargs)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(CsvProblem, match="does not exist on this host: copy it there or fix the path"):
        inspect_csv(tmp_path / "none.csv", role="guest")
    with pytest.raises(CsvProblem, match="is not a regular file"):
        inspect_csv(tmp_path, role="guest")


def test_not_utf8(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"id,x0\n1,\xe9\n")
    with pytest.raises(CsvProblem, match="line 2 is not UTF-8"):
        inspect_csv(path, role="host")


# the module


def test_first_upload(replay, guest_csv, tmp_path):
    flow = FakeFlow(replay)
    kind, result = run(args_for(replay, guest_csv, tmp_path))
    assert kind == "exit", result
    assert result["changed"] is True and result["action"] == "upload"
    assert result["job_id"] == UPLOAD_JOB and result["count"] == 569
    (upload,) = flow.posts("/data/component/upload")
    assert upload.json() == {
        "file": str(guest_csv),
        "head": True,
        "partitions": 4,
        "extend_sid": True,
        "meta": {"delimiter": ",", "match_id_name": "id", "dtype": "float64", "label_name": "y", "label_type": "int64"},
        "namespace": "experiment",
        "name": "breast_guest",
    }
    assert flow.posts("/table/delete") == []
    record = json.loads(Path(result["state_file"]).read_text())
    assert record["sha256"] == result["sha256"] and record["job_id"] == UPLOAD_JOB
    assert Path(result["state_file"]).parent.name == "experiment"


def test_same_file_again_changes_nothing(replay, guest_csv, tmp_path):
    FakeFlow(replay)
    run(args_for(replay, guest_csv, tmp_path))
    replay.requests.clear()
    kind, result = run(args_for(replay, guest_csv, tmp_path))
    assert kind == "exit" and result["changed"] is False and result["action"] == "none"
    assert result["job_id"] == UPLOAD_JOB
    assert [r.method for r in replay.requests] == ["GET"]


def test_a_changed_file_replaces_the_table(replay, guest_csv, tmp_path):
    flow = FakeFlow(replay)
    run(args_for(replay, guest_csv, tmp_path))
    guest_csv.write_text(GUEST_CSV + "4,0,0.1,0.2\n")
    kind, result = run(args_for(replay, guest_csv, tmp_path))
    assert kind == "exit" and result["changed"] is True and result["action"] == "replace"
    assert len(flow.posts("/table/delete")) == 1
    assert len(flow.posts("/data/component/upload")) == 2
    assert result["rows"] == 4


def test_changed_meta_replaces_the_table(replay, guest_csv, tmp_path):
    flow = FakeFlow(replay)
    run(args_for(replay, guest_csv, tmp_path))
    _, result = run(args_for(replay, guest_csv, tmp_path, partitions=8))
    assert result["action"] == "replace"
    assert flow.posts("/data/component/upload")[-1].json()["partitions"] == 8


def test_a_table_replaced_behind_our_back_is_uploaded_again(replay, guest_csv, tmp_path):
    FakeFlow(replay)
    _, first = run(args_for(replay, guest_csv, tmp_path))
    record_path = Path(first["state_file"])
    record = json.loads(record_path.read_text())
    record["job_id"] = "202601010000000000000"
    record_path.write_text(json.dumps(record))
    _, result = run(args_for(replay, guest_csv, tmp_path))
    assert result["action"] == "replace"


def test_check_mode_reports_and_changes_nothing(replay, guest_csv, tmp_path):
    flow = FakeFlow(replay)
    kind, result = run(dict(args_for(replay, guest_csv, tmp_path), _ansible_check_mode=True))
    assert kind == "exit" and result["changed"] is True and result["action"] == "upload"
    assert result["meta"]["label_name"] == "y"
    assert flow.posts("/data/component/upload") == [] and flow.posts("/table/delete") == []
    assert not (tmp_path / "state").exists()


def test_check_mode_on_an_existing_foreign_table_says_replace(replay, guest_csv, tmp_path):
    flow = FakeFlow(replay, table_exists=True)
    _, result = run(dict(args_for(replay, guest_csv, tmp_path), _ansible_check_mode=True))
    assert result["action"] == "replace" and flow.posts("/table/delete") == []


def test_failed_upload_job_fails_with_fates_status(replay, guest_csv, tmp_path):
    FakeFlow(replay, upload_status="failed")
    kind, result = run(args_for(replay, guest_csv, tmp_path))
    assert kind == "fail"
    assert "ended with status failed" in result["msg"]
    assert "FileNotFoundError" in result["msg"]
    assert "FATE-Flow reads the file itself: give it access, or set server_path" in result["msg"]
    assert result["job_id"] == UPLOAD_JOB
    assert not Path(result["state_file"]).exists()


def test_server_path_is_what_fate_flow_reads(replay, guest_csv, tmp_path):
    flow = FakeFlow(replay)
    run(args_for(replay, guest_csv, tmp_path, server_path="/data/projects/fate/input/guest.csv"))
    assert flow.posts("/data/component/upload")[0].json()["file"] == "/data/projects/fate/input/guest.csv"


def test_guest_without_label_when_required(replay, tmp_path):
    path = write(tmp_path, HOST_CSV, "nolabel.csv")
    kind, result = run(args_for(replay, path, tmp_path, require_label=True))
    assert kind == "fail"
    assert "has no label column (y or label) but a label is required" in result["msg"]
    assert replay.requests == []


def test_host_file_uploads_without_label(replay, tmp_path):
    flow = FakeFlow(replay)
    path = write(tmp_path, HOST_CSV, "host.csv")
    kind, result = run(args_for(replay, path, tmp_path, role="host", name="breast_host"))
    assert kind == "exit" and result["label_name"] is None
    assert flow.posts("/data/component/upload")[0].json()["meta"] == {
        "delimiter": ",",
        "match_id_name": "id",
        "dtype": "float64",
    }


def test_missing_file_fails_before_talking_to_fate(replay, tmp_path):
    kind, result = run(args_for(replay, tmp_path / "gone.csv", tmp_path))
    assert kind == "fail" and "does not exist on this host" in result["msg"]
    assert replay.requests == []


def test_unreachable_fate_flow(guest_csv, tmp_path):
    arguments = {
        "path": str(guest_csv),
        "namespace": "n",
        "name": "t",
        "role": "guest",
        "state_dir": str(tmp_path),
        "fate_flow_url": "http://127.0.0.1:9",
        "request_retries": 0,
    }
    kind, result = run(arguments)
    assert kind == "fail" and "cannot reach FATE-Flow at http://127.0.0.1:9" in result["msg"]


def test_absent_drops_table_and_record(replay, guest_csv, tmp_path):
    flow = FakeFlow(replay)
    _, uploaded = run(args_for(replay, guest_csv, tmp_path))
    kind, result = run(args_for(replay, guest_csv, tmp_path, state="absent"))
    assert kind == "exit" and result["changed"] is True and result["action"] == "delete"
    assert len(flow.posts("/table/delete")) == 1
    assert not Path(uploaded["state_file"]).exists()
    _, again = run(args_for(replay, guest_csv, tmp_path, state="absent"))
    assert again["changed"] is False


def test_bad_arguments(replay, guest_csv, tmp_path):
    kind, result = run(args_for(replay, guest_csv, tmp_path, role="arbiter"))
    assert kind == "fail" and "role" in result["msg"]
    kind, result = run(args_for(replay, guest_csv, tmp_path, partitions=0))
    assert kind == "fail" and "partitions must be at least 1" in result["msg"]
    kind, result = run(args_for(replay, guest_csv, tmp_path, app_id="a"))
    assert kind == "fail" and "app_token" in result["msg"]


# several files in one call


def uploads_args(replay: FlowReplay, tmp_path: Path, items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    arguments = {"uploads": items, "fate_flow_url": replay.url, "poll_interval": 0.01, "wait_timeout": 5}
    return {**arguments, "request_retries": 0, **extra}


def two_items(tmp_path: Path, guest: Path) -> list[dict[str, Any]]:
    host = write(tmp_path, HOST_CSV, "host.csv")
    return [
        {"path": str(guest), "namespace": "p", "name": "guest_9999", "role": "guest", "state_dir": str(tmp_path / "g"),
         "party_id": 9999},
        {"path": str(host), "namespace": "p", "name": "host_10000", "role": "host", "state_dir": str(tmp_path / "h"),
         "party_id": 10000},
    ]  # fmt: skip


class TablesByName(FakeFlow):
    """FakeFlow with one table per name, so that uploads side by side do not see each other's table."""

    def __init__(self, replay: FlowReplay) -> None:
        super().__init__(replay)
        self.tables: set[str] = set()

    def _table(self, request: Any) -> bytes:
        return (
            fixture("table_query_found") if request.query.get("name") in self.tables else fixture("table_query_missing")
        )

    def _upload(self, request: Any) -> bytes:
        self.tables.add(request.json()["name"])
        return fixture("upload_submit")


def test_uploads_run_in_one_call_each_with_its_own_table_and_records(replay, guest_csv, tmp_path):
    flow = TablesByName(replay)
    items = two_items(tmp_path, guest_csv)
    kind, result = run(uploads_args(replay, tmp_path, items))
    assert kind == "exit", result
    guest, host = result["results"]
    assert (guest["upload"]["party_id"], host["upload"]["party_id"]) == (9999, 10000)
    assert (guest["name"], guest["label_name"], host["name"], host["label_name"]) == (
        "guest_9999",
        "y",
        "host_10000",
        None,
    )
    assert (guest["action"], host["action"]) == ("upload", "upload") and result["changed"] is True
    assert sorted(post.json()["name"] for post in flow.posts("/data/component/upload")) == ["guest_9999", "host_10000"]
    assert Path(guest["state_file"]).parent.parent == tmp_path / "g"
    assert Path(host["state_file"]).parent.parent == tmp_path / "h"
    # Again: both recorded and in FATE, nothing to do.
    kind, again = run(uploads_args(replay, tmp_path, items))
    assert kind == "exit" and again["changed"] is False
    assert [r["action"] for r in again["results"]] == ["none", "none"]


def test_uploads_check_mode_uploads_nothing(replay, guest_csv, tmp_path):
    flow = FakeFlow(replay)
    kind, result = run_module(
        fate_data.main, uploads_args(replay, tmp_path, two_items(tmp_path, guest_csv)), check=True
    )
    assert kind == "exit" and [r["action"] for r in result["results"]] == ["upload", "upload"]
    assert flow.posts("/data/component/upload") == []


def test_a_bad_file_among_uploads_fails_the_call_naming_it_after_the_others_ended(replay, guest_csv, tmp_path):
    flow = TablesByName(replay)
    items = two_items(tmp_path, guest_csv)
    items[1]["path"] = str(tmp_path / "gone.csv")
    kind, result = run(uploads_args(replay, tmp_path, items))
    assert kind == "fail" and "\n" not in result["msg"]
    assert str(tmp_path / "gone.csv") in result["msg"] and "does not exist on this host" in result["msg"]
    uploaded, missing = result["results"]
    assert uploaded["changed"] is True and uploaded["action"] == "upload" and not uploaded.get("failed")
    assert missing["failed"] is True and missing["upload"]["path"] == str(tmp_path / "gone.csv")
    assert result["changed"] is True
    assert [post.json()["name"] for post in flow.posts("/data/component/upload")] == ["guest_9999"]


def test_path_or_uploads_exactly_one(replay, guest_csv, tmp_path):
    kind, result = run({**args_for(replay, guest_csv, tmp_path), "uploads": two_items(tmp_path, guest_csv)})
    assert kind == "fail" and "mutually exclusive" in result["msg"]
    kind, result = run({"fate_flow_url": replay.url})
    assert kind == "fail" and "path" in result["msg"] and "uploads" in result["msg"]
    kind, result = run({"path": str(guest_csv), "fate_flow_url": replay.url})
    assert kind == "fail" and "namespace" in result["msg"]
