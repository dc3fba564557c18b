"""fate_supervisor against a real supervisord (the release the party's runtime pins) on a socket of the test's own:
start when none answers, pick up added and changed programs, restart what stopped, change nothing when all is
well, and only look in check mode."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ansible_collections.fateops.federation.plugins.modules import fate_supervisor
from module_runner import module_exits, run_module  # noqa: F401

SLEEPER = f"{sys.executable} -c 'import time; time.sleep(600)'"


def program(directory: Path, name: str, command: str = SLEEPER) -> None:
    (directory / f"{name}.conf").write_text(
        f"[program:{name}]\ncommand={command}\nautorestart=false\nstartsecs=0\nstopwaitsecs=5\n"
    )


class Instance:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.programs = root / "supervisor.d"
        self.programs.mkdir()
        self.config = root / "supervisord.conf"
        sock = root / "supervisor.sock"
        self.config.write_text(
            f"[unix_http_server]\nfile={sock}\nchmod=0700\n\n"
            f"[supervisord]\nlogfile={root}/supervisord.log\npidfile={root}/supervisord.pid\ndirectory={root}\n\n"
            "[rpcinterface:supervisor]\n"
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n"
            f"[supervisorctl]\nserverurl=unix://{sock}\n\n[include]\nfiles = {self.programs}/*.conf\n"
        )
        self.args = {"python": sys.executable, "config": str(self.config), "programs": ["fateflow", "serving"]}

    def ctl(self, *args: str) -> str:
        argv = [sys.executable, "-m", "supervisor.supervisorctl", "-c", str(self.config), *args]
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout

    def state(self, name: str) -> str:
        return self.ctl("status", name).split()[1]

    def wait_running(self, *names: str) -> None:
        deadline = time.monotonic() + 20
        while any(self.state(name) != "RUNNING" for name in names):
            assert time.monotonic() < deadline, self.ctl("status")
            time.sleep(0.1)


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[Instance]:
    found = Instance(tmp_path)
    program(found.programs, "fateflow")
    yield found
    found.ctl("shutdown")


def test_a_missing_venv_is_refused_and_would_start_in_check_mode(instance: Instance) -> None:
    args = {**instance.args, "python": "/nowhere/venv/bin/python"}
    kind, result = run_module(fate_supervisor.main, args)
    assert kind == "fail" and "link the instance's venv" in result["msg"]
    kind, result = run_module(fate_supervisor.main, args, check=True)
    assert kind == "exit" and result["changed"] is True and result["started"] is True


def test_starts_supervisord_that_does_not_answer_and_then_changes_nothing(instance: Instance) -> None:
    kind, result = run_module(fate_supervisor.main, instance.args, check=True)
    assert (kind, result["started"]) == ("exit", True)
    assert not (instance.root / "supervisord.pid").exists()

    kind, result = run_module(fate_supervisor.main, instance.args)
    assert kind == "exit" and result["changed"] is True and result["started"] is True
    instance.wait_running("fateflow")

    kind, result = run_module(fate_supervisor.main, {**instance.args, "programs": ["fateflow"]})
    assert kind == "exit", result
    assert (result["changed"], result["updated"], result["restarted"]) == (False, [], [])
    assert result["states"] == {"fateflow": "RUNNING"}


def test_picks_up_added_and_changed_programs_and_restarts_only_what_stopped(instance: Instance) -> None:
    assert run_module(fate_supervisor.main, instance.args)[1]["started"]
    instance.wait_running("fateflow")
    program(instance.programs, "serving")
    program(instance.programs, "fateflow", SLEEPER.replace("600", "601"))

    kind, result = run_module(fate_supervisor.main, instance.args, check=True)
    assert kind == "exit" and result["changed"] is True
    assert sorted(result["updated"]) == ["fateflow", "serving"] and result["restarted"] == []
    # Check mode only looked.
    assert "601" not in instance.ctl("status", "fateflow") and "serving" not in instance.ctl("status")

    kind, result = run_module(fate_supervisor.main, instance.args)
    assert kind == "exit" and sorted(result["updated"]) == ["fateflow", "serving"]
    instance.wait_running("fateflow", "serving")

    instance.ctl("stop", "serving")
    kind, result = run_module(fate_supervisor.main, instance.args)
    assert kind == "exit" and result["changed"] is True
    assert (result["updated"], result["restarted"], result["states"]["serving"]) == ([], ["serving"], "STOPPED")
    assert instance.state("serving") == "RUNNING"


def test_a_program_that_cannot_start_fails_naming_the_log(instance: Instance) -> None:
    program(instance.programs, "serving", "/nowhere/serving")
    assert run_module(fate_supervisor.main, instance.args)[1]["started"]
    instance.wait_running("fateflow")
    kind, result = run_module(fate_supervisor.main, instance.args)
    assert kind == "fail"
    assert "refused" in result["msg"] and "supervisord.log" in result["msg"]
