"""fate_supervisor: supervisorctl's outputs (captured from supervisor 4.2) read into what the deploy acts on, and
the calls the module makes: start when supervisord does not answer, update and restart what stopped otherwise,
reread only in check mode."""

from __future__ import annotations

from typing import Any

import pytest
from ansible.module_utils import basic
from ansible_collections.fateops.federation.plugins.modules import fate_supervisor
from module_runner import module_exits, run_module  # noqa: F401

UPDATE = "fateflow: stopped\nfateflow: updated process group\nserving: added process group\n"
REREAD = "fateflow: changed\nserving: available\n"
STATUS = (
    "fateflow                         RUNNING   pid 4242, uptime 0:03:12\n"
    "serving                          FATAL     Exited too quickly (process log may have details)\n"
)
NOT_RUNNING = "unix:///data/projects/fate/standalone/run/supervisor.sock no such file\n"


def test_parsers_read_supervisorctl() -> None:
    assert fate_supervisor.parse_pid("4242\n") == 4242
    assert fate_supervisor.parse_pid(NOT_RUNNING) is None
    assert fate_supervisor.parse_groups(UPDATE) == ["fateflow", "serving"]
    assert fate_supervisor.parse_groups(REREAD) == ["fateflow", "serving"]
    assert fate_supervisor.parse_groups("No config updates to processes\n") == []
    assert fate_supervisor.parse_states(STATUS) == {"fateflow": "RUNNING", "serving": "FATAL"}


def replay(monkeypatch: pytest.MonkeyPatch, answers: dict[str, tuple[int, str]]) -> list[list[str]]:
    calls: list[list[str]] = []

    def run_command(self: Any, argv: list[str], **_: Any) -> tuple[int, str, str]:
        calls.append(argv)
        verb = argv[5] if "supervisor.supervisorctl" in argv else "supervisord"
        rc, out = answers.get(verb, (0, ""))
        return rc, out, ""

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    return calls


ARGS = {"python": "/i/venv/bin/python", "config": "/i/supervisord.conf", "programs": ["fateflow", "serving"]}


@pytest.fixture(autouse=True)
def venv_python(monkeypatch: pytest.MonkeyPatch) -> None:
    real = fate_supervisor.os.path.exists
    monkeypatch.setattr(fate_supervisor.os.path, "exists", lambda path: path == ARGS["python"] or real(path))


def test_a_missing_venv_is_refused_and_would_start_in_check_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = replay(monkeypatch, {})
    args = {**ARGS, "python": "/nowhere/venv/bin/python"}
    kind, result = run_module(fate_supervisor.main, args)
    assert kind == "fail" and "link the instance's venv" in result["msg"]
    kind, result = run_module(fate_supervisor.main, args, check=True)
    assert kind == "exit" and result["changed"] is True and result["started"] is True
    assert calls == []


def test_starts_supervisord_that_does_not_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = replay(monkeypatch, {"pid": (1, NOT_RUNNING)})
    kind, result = run_module(fate_supervisor.main, ARGS)
    assert kind == "exit" and result["changed"] is True and result["started"] is True
    assert calls[-1] == ["/i/venv/bin/python", "-m", "supervisor.supervisord", "-c", "/i/supervisord.conf"]


def test_updates_and_restarts_only_what_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = replay(monkeypatch, {"pid": (0, "4242\n"), "update": (0, ""), "status": (3, STATUS)})
    kind, result = run_module(fate_supervisor.main, ARGS)
    assert kind == "exit" and result["changed"] is True
    assert result["started"] is False and result["updated"] == [] and result["restarted"] == ["serving"]
    assert calls[-1][-2:] == ["restart", "serving"]


def test_nothing_to_do_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    running = STATUS.replace("FATAL     Exited too quickly (process log may have details)", "RUNNING   pid 7")
    calls = replay(monkeypatch, {"pid": (0, "4242\n"), "update": (0, ""), "status": (0, running)})
    kind, result = run_module(fate_supervisor.main, ARGS)
    assert kind == "exit" and result["changed"] is False and result["restarted"] == []
    assert [call[5] for call in calls] == ["pid", "update", "status"]


def test_check_mode_rereads_and_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = replay(monkeypatch, {"pid": (0, "4242\n"), "reread": (0, REREAD), "status": (3, STATUS)})
    kind, result = run_module(fate_supervisor.main, ARGS, check=True)
    assert kind == "exit" and result["changed"] is True and result["updated"] == ["fateflow", "serving"]
    assert [call[5] for call in calls] == ["pid", "reread", "status"]
    # serving is in an updated group: supervisord restarts it, the module does not.
    assert result["restarted"] == []
