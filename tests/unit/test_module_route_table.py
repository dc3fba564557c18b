"""fate_route_table: writes, merges, idempotence, check and diff mode, state absent, and every invalid input."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils import basic
from ansible_collections.fateops.federation.plugins.modules import fate_route_table
from module_runner import ExitJson, FailJson, module_exits, run_module  # noqa: F401

GOLDEN = Path(__file__).parent / "golden" / "route_tables"
MESH_PARTIES = [{"party_id": 9999, "host": "192.0.2.10"}, {"party_id": 10000, "host": "192.0.2.11"}]
STAR_PARTIES = [*MESH_PARTIES, {"party_id": 10001, "host": "192.0.2.12"}]
EXCHANGE = {"host": "192.0.2.1"}


def run(args: dict[str, Any], check: bool = False, diff: bool = False) -> tuple[str, dict[str, Any]]:
    return run_module(fate_route_table.main, args, check=check, diff=diff)


def ok(args: dict[str, Any], check: bool = False, diff: bool = False) -> dict[str, Any]:
    kind, result = run(args, check=check, diff=diff)
    assert kind == "exit", result
    return result


def failure(args: dict[str, Any]) -> str:
    kind, result = run(args)
    assert kind == "fail", result
    assert result.get("changed", False) is False
    return result["msg"]


def osx_args(path: Path, **extra: Any) -> dict[str, Any]:
    return {"path": str(path), "format": "osx", "self_party_id": 9999, "parties": MESH_PARTIES, **extra}


def golden(name: str) -> str:
    return (GOLDEN / name).read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------------------------- writing


@pytest.mark.parametrize(
    ("table_format", "self_party_id", "topology", "golden_name"),
    [
        ("rollsite", 9999, "mesh", "rollsite_mesh_9999.json"),
        ("osx", 10000, "mesh", "osx_mesh_10000.json"),
        ("nginx", 9999, "mesh", "nginx_mesh_9999.conf"),
        ("rabbitmq", 9999, "mesh", "rabbitmq_mesh_9999.yaml"),
        ("rollsite", None, "star", "rollsite_star_exchange.json"),
        ("osx", 10001, "star", "osx_star_10001.json"),
        ("nginx", None, "star", "nginx_star_exchange.conf"),
    ],
)
def test_writes_the_rendered_table_then_changes_nothing(
    tmp_path: Path, table_format: str, self_party_id: int | None, topology: str, golden_name: str
) -> None:
    path = tmp_path / "route_table"
    args: dict[str, Any] = {
        "path": str(path),
        "format": table_format,
        "self_party_id": self_party_id,
        "topology": topology,
        "parties": MESH_PARTIES if topology == "mesh" else STAR_PARTIES,
    }
    if topology == "star":
        args["exchange"] = EXCHANGE
    first = ok(args)
    assert first["changed"] is True
    assert path.read_text(encoding="utf-8") == golden(golden_name)
    assert first["path"] == str(path) and first["format"] == table_format
    second = ok(args)
    assert second["changed"] is False
    assert second["table"] == first["table"]
    assert [p.name for p in tmp_path.iterdir()] == ["route_table"], "no temporary file may be left behind"


def test_the_same_routes_in_another_layout_are_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "route_table.json"
    compact = json.dumps(json.loads(golden("osx_mesh_9999.json")), separators=(",", ":"), sort_keys=True)
    path.write_text(compact, encoding="utf-8")
    result = ok(osx_args(path), diff=True)
    assert result["changed"] is False
    assert path.read_text(encoding="utf-8") == compact
    assert result["diff"]["before"] == result["diff"]["after"] == compact


def test_writes_through_atomic_move(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    moves: list[tuple[str, str]] = []
    real_move = basic.AnsibleModule.atomic_move

    def recording_move(self: basic.AnsibleModule, src: str, dest: str, *args: Any, **kwargs: Any) -> None:
        moves.append((src, dest))
        real_move(self, src, dest, *args, **kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "atomic_move", recording_move)
    path = tmp_path / "route_table.json"
    ok(osx_args(path))
    assert len(moves) == 1
    source, destination = moves[0]
    assert destination == str(path)
    assert Path(source).parent == tmp_path
    assert not Path(source).exists()


def test_hand_added_routes_survive_unless_exclusive(tmp_path: Path) -> None:
    path = tmp_path / "route_table.json"
    table = json.loads(golden("osx_mesh_9999.json"))
    hand_route = {"default": [{"ip": "198.51.100.7", "port": 9370, "protocol": "grpc"}]}
    table["route_table"]["20000"] = hand_route
    table["route_table"]["10000"]["default"][0]["ip"] = "203.0.113.9"
    path.write_text(json.dumps(table), encoding="utf-8")

    result = ok(osx_args(path))
    assert result["changed"] is True
    written = json.loads(path.read_text(encoding="utf-8"))
    assert written["route_table"]["20000"] == hand_route
    assert written["route_table"]["10000"]["default"][0]["ip"] == "192.0.2.11"
    assert ok(osx_args(path))["changed"] is False

    result = ok(osx_args(path, exclusive=True))
    assert result["changed"] is True
    assert path.read_text(encoding="utf-8") == golden("osx_mesh_9999.json")


def test_a_new_party_is_added_in_place(tmp_path: Path) -> None:
    path = tmp_path / "rabbitmq_route_table.yaml"
    ok({"path": str(path), "format": "rabbitmq", "self_party_id": 9999, "parties": MESH_PARTIES})
    result = ok({"path": str(path), "format": "rabbitmq", "self_party_id": 9999, "parties": STAR_PARTIES}, diff=True)
    assert result["changed"] is True
    assert result["diff"]["after"].endswith("10001:\n  host: 192.0.2.12\n  port: 5672\n")
    assert result["diff"]["before"] == golden("rabbitmq_mesh_9999.yaml")


# ------------------------------------------------------------------------------------------- check and diff mode


def test_check_mode_reports_the_change_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "route_table.json"
    result = ok(osx_args(path), check=True, diff=True)
    assert result["changed"] is True
    assert not path.exists()
    assert result["diff"]["before"] == ""
    assert result["diff"]["after"] == golden("osx_mesh_9999.json")
    assert result["table"]["self_party"] == ["9999"]


def test_check_mode_leaves_an_existing_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "route_table.json"
    path.write_text(golden("osx_mesh_10000.json"), encoding="utf-8")
    result = ok(osx_args(path), check=True, diff=True)
    assert result["changed"] is True
    assert path.read_text(encoding="utf-8") == golden("osx_mesh_10000.json")
    assert result["diff"]["before"] == golden("osx_mesh_10000.json")
    assert result["diff"]["after"] == golden("osx_mesh_9999.json")
    assert result["diff"]["before_header"] == result["diff"]["after_header"] == str(path)


def test_no_diff_outside_diff_mode(tmp_path: Path) -> None:
    assert "diff" not in ok(osx_args(tmp_path / "route_table.json"))


# ---------------------------------------------------------------------------------------------------- state absent


def test_absent_removes_only_the_listed_parties(tmp_path: Path) -> None:
    path = tmp_path / "route_table.json"
    table = json.loads(golden("rollsite_star_exchange.json"))
    table["route_table"]["20000"] = {"default": [{"ip": "198.51.100.7", "port": 9370}]}
    path.write_text(json.dumps(table), encoding="utf-8")
    args = {"path": str(path), "format": "rollsite", "state": "absent", "parties": [{"party_id": 10001}]}

    result = ok(args, check=True)
    assert result["changed"] is True
    assert json.loads(path.read_text(encoding="utf-8")) == table

    result = ok(args)
    assert result["changed"] is True
    assert set(json.loads(path.read_text(encoding="utf-8"))["route_table"]) == {"9999", "10000", "20000"}
    assert ok(args)["changed"] is False


def test_absent_without_a_file_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "route_table.json"
    result = ok({"path": str(path), "format": "osx", "state": "absent", "parties": [{"party_id": 10001}]}, diff=True)
    assert result["changed"] is False
    assert result["table"] == {}
    assert not path.exists()


def test_absent_removes_a_party_from_the_nginx_map(tmp_path: Path) -> None:
    path = tmp_path / "fate_flow.conf"
    path.write_text(golden("nginx_mesh_9999.conf"), encoding="utf-8")
    result = ok({"path": str(path), "format": "nginx", "state": "absent", "parties": [{"party_id": 10000}]})
    assert result["changed"] is True
    assert result["table"] == {"listen": 9300, "routes": {"9999": "192.0.2.10:9380"}}
    assert "10000 " not in path.read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------------------------ file mode


def test_mode_is_applied_and_counts_as_a_change(tmp_path: Path) -> None:
    path = tmp_path / "route_table.json"
    ok(osx_args(path, mode="0600"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    result = ok(osx_args(path, mode="0644"))
    assert result["changed"] is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert ok(osx_args(path, mode="0644"))["changed"] is False


def test_rewriting_keeps_the_mode_of_the_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "route_table.json"
    path.write_text(golden("osx_mesh_10000.json"), encoding="utf-8")
    path.chmod(0o640)
    assert ok(osx_args(path))["changed"] is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


# --------------------------------------------------------------------------------------------------- invalid input


def test_duplicate_party_fails(tmp_path: Path) -> None:
    parties = [*MESH_PARTIES, {"party_id": 9999, "host": "192.0.2.12"}]
    msg = failure(osx_args(tmp_path / "t.json", parties=parties))
    assert "duplicate party id 9999" in msg
    assert not (tmp_path / "t.json").exists()


@pytest.mark.parametrize("port", [0, 70000, -5])
def test_bad_port_fails(tmp_path: Path, port: int) -> None:
    parties = [{"party_id": 9999, "host": "192.0.2.10", "proxy_port": port}, MESH_PARTIES[1]]
    msg = failure(osx_args(tmp_path / "t.json", parties=parties))
    assert f"party 9999 proxy_port is {port}, not a port; give an integer from 1 to 65535" in msg


def test_bad_exchange_port_fails(tmp_path: Path) -> None:
    args = osx_args(tmp_path / "t.json", topology="star", exchange={"host": "192.0.2.1", "osx_port": 0})
    assert "the exchange's osx_port is 0, not a port" in failure(args)


def test_non_integer_party_id_fails(tmp_path: Path) -> None:
    parties = [{"party_id": "guest", "host": "192.0.2.10"}]
    msg = failure(osx_args(tmp_path / "t.json", parties=parties))
    assert "party_id" in msg and "int" in msg


def test_party_id_written_as_text_is_accepted(tmp_path: Path) -> None:
    parties = [{"party_id": "9999", "host": "192.0.2.10"}, {"party_id": "10000", "host": "192.0.2.11"}]
    assert ok(osx_args(tmp_path / "t.json", parties=parties))["changed"] is True


def test_star_without_exchange_fails(tmp_path: Path) -> None:
    msg = failure(osx_args(tmp_path / "t.json", topology="star"))
    assert "topology is star" in msg and "exchange" in msg


def test_unknown_topology_fails(tmp_path: Path) -> None:
    msg = failure(osx_args(tmp_path / "t.json", topology="ring"))
    assert "topology" in msg and "mesh, star" in msg


def test_unknown_format_fails(tmp_path: Path) -> None:
    msg = failure(osx_args(tmp_path / "t.json", format="pulsar"))
    assert "format" in msg and "rollsite, osx, nginx, rabbitmq" in msg


def test_unknown_self_party_fails(tmp_path: Path) -> None:
    msg = failure(osx_args(tmp_path / "t.json", self_party_id=20000))
    assert "unknown party 20000: the federation has parties 9999, 10000" in msg


def test_mesh_without_self_party_fails(tmp_path: Path) -> None:
    msg = failure(osx_args(tmp_path / "t.json", self_party_id=None))
    assert "self_party_id is missing; a mesh has no exchange" in msg


def test_present_without_parties_fails(tmp_path: Path) -> None:
    msg = failure({"path": str(tmp_path / "t.json"), "format": "osx", "self_party_id": 9999})
    assert "state is present" in msg and "parties" in msg


def test_party_without_host_fails(tmp_path: Path) -> None:
    msg = failure(osx_args(tmp_path / "t.json", parties=[{"party_id": 9999}]))
    assert "party 9999 has no host" in msg


def test_bad_host_fails(tmp_path: Path) -> None:
    msg = failure(osx_args(tmp_path / "t.json", parties=[{"party_id": 9999, "host": "192.0.2.10; rm"}]))
    assert "is not a host name or an IP address" in msg


def test_tls_certificate_without_key_fails(tmp_path: Path) -> None:
    msg = failure(osx_args(tmp_path / "t.json", tls={"cert_chain_file": "/certs/proxy.crt"}))
    assert "cert_chain_file" in msg and "private_key_file" in msg


def test_unreadable_existing_file_fails_unless_exclusive(tmp_path: Path) -> None:
    path = tmp_path / "route_table.json"
    path.write_text("{ this is not json", encoding="utf-8")
    msg = failure(osx_args(path))
    assert f"{path} is not a readable osx route table: not valid JSON" in msg
    assert "set exclusive=true to replace it" in msg
    assert path.read_text(encoding="utf-8") == "{ this is not json"

    result = ok(osx_args(path, exclusive=True), diff=True)
    assert result["changed"] is True
    assert result["diff"]["before"] == "{ this is not json"
    assert path.read_text(encoding="utf-8") == golden("osx_mesh_9999.json")


def test_unreadable_existing_file_fails_for_absent(tmp_path: Path) -> None:
    path = tmp_path / "rabbitmq_route_table.yaml"
    path.write_text("9999: {host: a}\n", encoding="utf-8")
    args = {"path": str(path), "format": "rabbitmq", "state": "absent", "parties": [{"party_id": 9999}]}
    assert "is not a readable rabbitmq route table" in failure({**args, "exclusive": True})


def test_missing_directory_fails(tmp_path: Path) -> None:
    msg = failure(osx_args(tmp_path / "conf" / "route_table.json"))
    assert f"directory {tmp_path / 'conf'} does not exist; create it first" in msg


def test_missing_directory_in_check_mode_is_a_change_not_a_failure(tmp_path: Path) -> None:
    # A --check deploy on a new host: the deploy would make the directory, then write the table.
    result = ok(osx_args(tmp_path / "conf" / "route_table.json"), check=True)
    assert result["changed"] is True and not (tmp_path / "conf").exists()


def test_directory_as_path_fails(tmp_path: Path) -> None:
    assert f"path {tmp_path} is a directory" in failure(osx_args(tmp_path))
