"""Run one playbook through ansible-runner, showing progress on stderr (step, host, elapsed).

Runner artifacts stay in the workspace's runs/ directory. Nothing secret is passed to Ansible: extra vars and
inventories hold no passwords, ansible-playbook gets a small environment of its own (never the operator's, which
may hold cloud keys or FATEOPS_EXCHANGE_PASSWORD) and the artifacts keep no copy of it.

What the facade hands Ansible is data, never a template: extra vars travel in a YAML file in which every string is
tagged !unsafe, so a value such as "{{ lookup('pipe', 'id') }}" reaches the modules as those characters.

ssh host keys are checked on every connection: ansible-runner turns Ansible's host key checking off unless told
otherwise, and OpenSSH keeps the first StrictHostKeyChecking it is given, so the run's environment turns it on.
A host whose key changed, or is not in the workspace's known_hosts, is refused, and the failure says which
command to run (ssh-keygen -R for a changed key) instead of OpenSSH's banner.

SIGINT and SIGTERM during a run stop ansible-playbook (its whole process group) before the caller's lock is
released, and the error says which hosts may be left half done.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import ansible_runner

from fateops import ROOT
from fateops.errors import FateopsError
from fateops.ssh_keys import (
    SSH_PORT,
    host_key_changed_message,
    host_key_unknown_message,
    read_known_hosts,
    recorded_keys,
    ssh_paths,
)
from fateops.workspace import Workspace, atomic_write, unsafe_yaml

# The operator's variables ansible-playbook may see: where programs and the controller's pip find things, the
# locale, and the Docker engine the operator's docker CLI talks to (compose parties on the controller's host).
# Nothing else of the caller's environment reaches a child process.
_PASSED_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ")
DOCKER_ENV = ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY")
_PASSED_ENV_PREFIXES = ("PIP_",)
# How often (seconds) the run looks at whether it was told to stop.
_CANCEL_POLL = 0.5
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# What OpenSSH says when StrictHostKeyChecking=yes refuses a host: a changed key, or (the second alone) one that
# known_hosts does not hold.
_HOST_KEY_CHANGED = "REMOTE HOST IDENTIFICATION HAS CHANGED"
_HOST_KEY_REFUSED = "Host key verification failed"
# What Mitogen's ssh connection says instead, for either refusal: known_hosts tells which one it was.
_MITOGEN_HOST_KEY_REFUSED = "SSH reported an unrecognized or mismatching host key"


class Interrupted(FateopsError):
    """A run stopped by SIGINT or SIGTERM; the message says what may be left half done."""

    # The shell's status for a command ended by Ctrl-C.
    exit_status = 130


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

    def __init__(
        self,
        label: str,
        stream: TextIO,
        verbose: bool = False,
        explain: Callable[[str, str], str | None] | None = None,
    ) -> None:
        self.label = label
        # (host, Ansible's message) -> a message of ours naming the fix, or None to keep Ansible's.
        self.explain = explain
        self.stream = stream
        self.verbose = verbose
        self.started = time.monotonic()
        self.failures: list[str] = []
        self.changed = 0
        self.data: dict[str, Any] = {}
        # host -> the last task started there: what a stopped run may have left half done.
        self.started_on: dict[str, str] = {}

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
            self.started_on[host] = step
            self._say(host, step)
        elif kind == "runner_on_ok":
            if data.get("res", {}).get("changed"):
                self.changed += 1
                self._say(host, f"{step}: changed")
        elif kind == "playbook_on_stats":
            self.data = data.get("artifact_data") or {}
        elif kind in ("runner_on_failed", "runner_on_unreachable") and not data.get("ignore_errors"):
            result = data.get("res", {})
            message = (self.explain and self.explain(host, _whole_message(result))) or _failure_message(result)
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


def _whole_message(result: dict[str, Any]) -> str:
    """Every message of a result, its loop items' too (an unreachable loop task says "All items completed")."""
    parts = [result, *[item for item in result.get("results", []) or [] if isinstance(item, dict)]]
    return " ".join(str(part.get(key) or "") for part in parts for key in ("msg", "stderr", "module_stderr"))


def _inventory_hosts(inventory: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """inventory host name -> its variables, from every group of an inventory in Ansible's YAML shape."""
    found: dict[str, dict[str, Any]] = {}
    todo = list(inventory.values())
    while todo:
        group = todo.pop()
        if not isinstance(group, dict):
            continue
        for name, host_vars in (group.get("hosts") or {}).items():
            found.setdefault(str(name), host_vars or {})
        todo.extend((group.get("children") or {}).values())
    return found


def host_key_explainer(inventory: dict[str, Any], known_hosts: Path) -> Callable[[str, str], str | None]:
    """Turns OpenSSH's refusal of a host key (as Ansible reports it) into one line with the command to run."""
    hosts = _inventory_hosts(inventory)

    def explain(host: str, message: str) -> str | None:
        if not any(text in message for text in (_HOST_KEY_REFUSED, _HOST_KEY_CHANGED, _MITOGEN_HOST_KEY_REFUSED)):
            return None
        variables = hosts.get(host, {})
        address = str(variables.get("ansible_host") or host)
        port = int(variables.get("ansible_port") or SSH_PORT)
        changed = _HOST_KEY_CHANGED in message or (
            _MITOGEN_HOST_KEY_REFUSED in message and bool(recorded_keys(read_known_hosts(known_hosts), address, port))
        )
        if changed:
            return host_key_changed_message(address, port, known_hosts)
        return host_key_unknown_message(address, port, known_hosts)

    return explain


def child_environment(run_dir: Path) -> dict[str, str]:
    """The whole environment of ansible-playbook: a few of the caller's variables and Ansible's own settings."""
    env = {
        k: v for k, v in os.environ.items() if k in _PASSED_ENV or k in DOCKER_ENV or k.startswith(_PASSED_ENV_PREFIXES)
    }
    env.update(
        {
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "collections"),
            "ANSIBLE_ROLES_PATH": str(ROOT / "roles"),
            "ANSIBLE_LOCAL_TEMP": str(run_dir / "tmp"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_HOST_KEY_CHECKING": "True",
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        }
    )
    return env


def _without_caller_environment(prepared: dict[str, str], wanted: dict[str, str]) -> dict[str, str]:
    """ansible-runner starts the child's environment from a copy of ours; keep what we want and what the runner
    itself set (its callback plugin's settings), drop the rest of the caller's variables."""
    return {key: value for key, value in prepared.items() if key in wanted or os.environ.get(key) != value}


def _children() -> dict[int, list[int]]:
    """parent pid -> its child pids, read from /proc."""
    tree: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name (2nd field) may hold spaces; the parent pid comes 2 fields after its closing ")".
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        tree.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return tree


def _descendants(pid: int) -> set[int]:
    tree, found, todo = _children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _end_process_tree(grace: float = 3.0) -> None:
    """End every process this one started: ansible-playbook first gets SIGTERM (it stops its workers, which run
    in sessions of their own), then whatever is left of the tree, found before anything was signalled, SIGKILL."""
    tree = _descendants(os.getpid())
    direct = set(_children().get(os.getpid(), [])) & tree
    for pid in direct:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in direct):
        time.sleep(0.1)
    for pid in tree | {p for q in tree for p in _descendants(q)}:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


class _StopSignals:
    """While a playbook runs, SIGINT/SIGTERM mark the run as stopped instead of unwinding the caller at once, so the
    playbook's processes are ended before the workspace lock is given back."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}
        self._ended = False

    def _handle(self, signum: int, _frame: Any) -> None:
        self.received = signum

    def __enter__(self) -> _StopSignals:
        for signum in _STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *_exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def stopped(self) -> bool:
        """ansible-runner's cancel callback: once a signal came, end the playbook's processes and say so."""
        if self.received is not None and not self._ended:
            self._ended = True
            _end_process_tree()
        return self.received is not None


def _drop_environment_dump(run_dir: Path) -> None:
    """ansible-runner writes the child's environment to artifacts/<ident>/command; keep only command and cwd."""
    for command_file in (run_dir / "artifacts").glob("*/command"):
        try:
            record = json.loads(command_file.read_text())
        except (OSError, ValueError):
            command_file.unlink(missing_ok=True)
            continue
        atomic_write(command_file, json.dumps({k: record.get(k) for k in ("command", "cwd")}) + "\n")


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
    extravars_path = run_dir / "extravars.yml"
    atomic_write(extravars_path, unsafe_yaml(extravars or {}))
    progress = Progress(label, stream, explain=host_key_explainer(inventory, ssh_paths(workspace).known_hosts))
    started = time.monotonic()
    env = child_environment(run_dir)
    with _StopSignals() as signals:
        runner = ansible_runner.interface.init_runner(
            private_data_dir=str(run_dir),
            playbook=str(ROOT / "playbooks" / playbook),
            inventory=str(inventory_path),
            cmdline=f"-e @{extravars_path}",
            envvars=env,
            quiet=True,
            event_handler=progress,
            cancel_callback=signals.stopped,
            limit=limit,
            settings={"suppress_env_files": True, "pexpect_timeout": _CANCEL_POLL},
        )
        runner.config.env = _without_caller_environment(runner.config.env, env)
        runner.run()
    _drop_environment_dump(run_dir)
    elapsed = time.monotonic() - started
    if signals.received is not None:
        name = signal.Signals(signals.received).name
        touched = ", ".join(f"{host} ({task})" for host, task in sorted(progress.started_on.items()) if host)
        raise Interrupted(
            f"stopped by {name}: ansible-playbook was ended after {elapsed:.0f}s; "
            + (f"these hosts may be half done: {touched}; " if touched else "no host was changed yet; ")
            + f"run the same -f {label} again to converge"
        )
    ok = runner.rc == 0 and runner.status == "successful"
    if not ok and not progress.failures:
        progress.failures.append(f"ansible-runner ended with status {runner.status} (rc {runner.rc})")
    return RunResult(ok, progress.changed, progress.failures, run_dir, elapsed, progress.data)
