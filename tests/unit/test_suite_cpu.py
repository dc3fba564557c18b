"""benchmarks/suite_cpu.py: the command's exit status and output pass through; CPU is charged by kind; FATE job
directories in command lines are counted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "suite_cpu.py"
JOB = "202612031426514225680"


def run(*command: str) -> tuple[int, dict]:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--interval", "0.2", "--", *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "{" in proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout[proc.stdout.index("{") :])


def _suite_cpu():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import suite_cpu
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return suite_cpu


def test_a_busy_child_is_charged_and_its_task_directory_counted():
    # A task-like process: its command line names a FATE task directory and it uses 1.5 CPU-s (however busy the
    # machine is: it counts its own CPU time, not the clock's).
    busy = "import time\nwhile time.process_time() < 1.5: pass"
    status, report = run(sys.executable, "-c", busy, f"/x/home/jobs/{JOB}/guest/9999/lr_0/0/input")
    assert status == 0 and report["status"] == 0
    assert report["busy_cpu_s"] >= 1.0
    # Its command line matches no kind of KINDS: it is charged as other, while it ran (not as short-lived).
    assert report["cpu_s_by_kind"]["other"] >= 1.0
    assert (report["fate_jobs_seen"], report["fate_tasks_seen"]) == (1, 1)
    assert report["wall_s"] >= 1.5


def test_the_commands_exit_status_is_the_scripts():
    status, report = run("sh", "-c", "exit 3")
    assert status == 3 and report["status"] == 3
    assert report["fate_jobs_seen"] == 0 and report["fate_task_cpu_s_per_task"] is None


def test_kinds_follow_the_first_matching_pattern():
    suite_cpu = _suite_cpu()
    assert suite_cpu.kind_of("/p/venv/bin/python /p/fate_flow/manager/worker/fate_executor.py component execute") == (
        "fate task"
    )
    # A task forked by the task launcher has the launcher's command line.
    forked = "/p/venv/bin/python /p/venv/bin/fate-task-launcher serve /p/run/tasks.sock fate.components.core"
    assert suite_cpu.kind_of(forked) == "fate task"
    assert suite_cpu.kind_of("/p/venv/bin/python -m fate_flow.fate_flow_server") == "fate-flow server"
    assert suite_cpu.kind_of("/v/bin/python3 /v/bin/ansible-playbook -i inv deploy.yml") == "ansible"
    assert suite_cpu.kind_of("/usr/bin/python3(mitogen:root@regulator:4242)") == "ansible"
    assert suite_cpu.kind_of("/usr/lib/erlang/erts-13.1.5/bin/beam.smp -W w") == "rabbitmq"
    assert suite_cpu.kind_of("vim notes.txt") == "other"


def test_a_command_that_cannot_run_is_one_line():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--", "/nonexistent/fateops-command"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "suite_cpu: cannot run /nonexistent/fateops-command: No such file or directory; "
        "name a command on PATH or by its path"
    ]


def test_a_process_that_exits_while_it_is_read_is_passed_over(monkeypatch):
    # A process that is exiting can show an empty stat; the reading goes on with the others.
    suite_cpu = _suite_cpu()
    sampler = suite_cpu.Sampler(1.0)
    real = Path.read_text

    def read_text(self, *args, **kwargs):
        return "" if self.name == "stat" and self.parent.name != "self" else real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)
    sampler.sample()
    assert sampler.by_kind == {}


def test_a_command_that_ends_before_the_machine_is_busy_still_reports(monkeypatch):
    # A command that ends within one clock tick leaves the machine's busy time unchanged: shares are 0, not an error.
    suite_cpu = _suite_cpu()
    monkeypatch.setattr(suite_cpu, "machine_busy_ticks", lambda: (100, 100))
    report = suite_cpu.Sampler(1.0).report(0.01, ["true"], 0)
    assert report["busy_cpu_s"] == 0 and all(share == 0 for share in report["share_by_kind"].values())
