"""Run one playbook through ansible-runner, showing progress on stderr (step, host, elapsed).

Runner artifacts stay in the workspace's runs/ directory. Nothing secret is passed to Ansible: extra vars and
inventories hold no passwords, so neither do the artifacts.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import ansible_runner

from fateops import ROOT
from fateops.workspace import Workspace


@dataclass
class RunResult:
    ok: bool
    changed: int
    failures: list[str] = field(default_factory=list)
    run_dir: Path | None = None
    elapsed: float = 0.0
    # What the playbook published with ansible.builtin.set_stats.
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def error(self) -> str:
        return self.failures[0] if self.failures else "the playbook failed; see the run log"


class Progress:
    """Turns runner events into one stderr line per task and host, plus failure messages."""

    def __init__(self, label: str, stream: TextIO, verbose: bool = False) -> None:
        self.label = label
        self.stream = stream
        self.verbose = verbose
        self.started = time.monotonic()
        self.failures: list[str] = []
        self.changed = 0
        self.data: dict[str, Any] = {}

    def _say(self, host: str, text: str) -> None:
        elapsed = time.monotonic() - self.started
        self.stream.write(f"fateops {self.label} [{elapsed:6.1f}s] {host}: {text}\n")
        self.stream.flush()

    def __call__(self, event: dict[str, Any]) -> bool:
        kind = event.get("event", "")
        data = event.get("event_data", {})
        host = data.get("host", "")
        task = data.get("task", "")
        role = data.get("role")
        step = f"{role.split('.')[-1]}: {task}" if role else task
        if kind == "runner_on_start":
            self._say(host, step)
        elif kind == "runner_on_ok":
            if data.get("res", {}).get("changed"):
                self.changed += 1
                self._say(host, f"{step}: changed")
        elif kind == "playbook_on_stats":
            self.data = data.get("artifact_data") or {}
        elif kind in ("runner_on_failed", "runner_on_unreachable") and not data.get("ignore_errors"):
            message = _failure_message(data.get("res", {}))
            where = "unreachable" if kind == "runner_on_unreachable" else f"'{step}' failed"
            self.failures.append(f"{host}: {where}: {message}")
            self._say(host, f"{where}: {message}")
        return True


# A failure is one line for people; the whole output stays in the run's artifacts.
_LONGEST_MESSAGE = 600


def _failure_message(result: dict[str, Any]) -> str:
    message = str(result.get("msg") or "").strip()
    # Loop results carry the message per item.
    if not message or message.startswith("One or more items failed"):
        for item in result.get("results", []) or []:
            if item.get("failed"):
                message = str(item.get("msg") or message).strip()
                break
    stderr = str(result.get("stderr") or result.get("module_stderr") or "").strip()
    if stderr and (not message or message.startswith("non-zero return code")):
        message = stderr.splitlines()[-1]
    message = " ".join(message.split()) or "no message"
    if len(message) > _LONGEST_MESSAGE:
        # Tools like pip put their verdict last; keep it, not the pages before it.
        verdict = message.rfind("ERROR:")
        message = message[verdict:] if verdict >= 0 else message
        message = message if len(message) <= _LONGEST_MESSAGE else "..." + message[-_LONGEST_MESSAGE:]
    return message


def run_playbook(
    workspace: Workspace,
    playbook: str,
    inventory: dict[str, Any],
    label: str,
    extravars: dict[str, Any] | None = None,
    stream: TextIO = sys.stderr,
    limit: str | None = None,
) -> RunResult:
    run_dir = workspace.new_run_dir(label)
    inventory_path = workspace.write_inventory(inventory, run_dir / "inventory" / "hosts.yml")
    progress = Progress(label, stream)
    env = {
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "collections"),
        "ANSIBLE_ROLES_PATH": str(ROOT / "roles"),
        "ANSIBLE_LOCAL_TEMP": str(run_dir / "tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    started = time.monotonic()
    runner = ansible_runner.run(
        private_data_dir=str(run_dir),
        playbook=str(ROOT / "playbooks" / playbook),
        inventory=str(inventory_path),
        extravars=extravars or {},
        envvars=env,
        quiet=True,
        event_handler=progress,
        limit=limit,
        settings={"suppress_env_files": True},
    )
    elapsed = time.monotonic() - started
    ok = runner.rc == 0 and runner.status == "successful"
    if not ok and not progress.failures:
        progress.failures.append(f"ansible-runner ended with status {runner.status} (rc {runner.rc})")
    return RunResult(ok, progress.changed, progress.failures, run_dir, elapsed, progress.data)
