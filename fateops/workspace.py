"""The regulator's workspace: state, lock, generated inventories and run logs.

State is one JSON document written atomically (temp file, fsync, rename) under an exclusive lock, mode 0600.
It never holds a secret: passwords are used in memory and dropped.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from fateops.contracts import STATE_VERSION, NewerStateError, ShapeError, State, read_state
from fateops.deployment import Template
from fateops.errors import FateopsError
from fateops.validation import settings_problem

# How many runs' logs are kept.
KEEP_RUNS = 20


class _UnsafeDumper(yaml.SafeDumper):
    """Dumps every string, mapping keys included, as !unsafe: Ansible then never renders it as a template."""


def _represent_unsafe(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    return dumper.represent_scalar("!unsafe", value)


# Keys too: a user's mapping (settings such as fate_job_options, a data file's columns) has keys of the user's, and
# Ansible 2.19 renders a plain key as soon as a play reads it as a value (dict2items, keys()).
_UnsafeDumper.add_representer(str, _represent_unsafe)
# The plan's own templates (deployment.Template) are the one exception.
_UnsafeDumper.add_representer(Template, lambda dumper, value: dumper.represent_str(str(value)))


def unsafe_yaml(data: dict[str, Any]) -> str:
    """YAML that Ansible loads as the same data, with every string (values and keys) marked !unsafe."""
    return yaml.dump(data, Dumper=_UnsafeDumper, sort_keys=False, default_flow_style=False)


def default_home() -> Path:
    return Path(os.environ.get("FATEOPS_HOME") or Path.home() / ".fateops").expanduser()


def atomic_write(path: Path, data: str | bytes, mode: int = 0o600) -> None:
    """Replace path with data in one step: readers see the old or the new file, never a partial one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def deployment_id(state: State) -> str:
    """The id with which the instances this workspace deploys are marked as its own (state's deployment.id).

    Made at first need, in state (older state files have none until then); the caller saves it with the state.
    """
    if not state.deployment.id:
        state.deployment.id = str(uuid.uuid4())
    return state.deployment.id


class Workspace:
    def __init__(self, home: Path | None = None) -> None:
        self.home = (home or default_home()).resolve()
        self.state_path = self.home / "state.json"
        self.settings_path = self.home / "settings.yml"
        self.lock_path = self.home / ".lock"
        self.runs_dir = self.home / "runs"
        self.inventory_path = self.home / "inventory.yml"

    def ensure(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.home, 0o700)

    @contextlib.contextmanager
    def locked(self, wait: float = 10.0) -> Iterator[None]:
        """Hold the workspace's exclusive lock; give up with a clear error after wait seconds."""
        self.ensure()
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + wait
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                        raise FateopsError(
                            f"another fateops command (pid {holder}) is using the workspace {self.home}; "
                            "wait for it to finish"
                        ) from None
                    time.sleep(0.1)
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield
        finally:
            os.close(fd)

    def load_state(self) -> State:
        """The recorded state; a file of an older version is upgraded here and written in the new form on save."""
        if not self.state_path.exists():
            return State()
        try:
            data = json.loads(self.state_path.read_text())
        except (OSError, ValueError) as exc:
            raise FateopsError(
                f"the workspace state {self.state_path} is unreadable ({exc}); restore it or remove it"
            ) from None
        if not isinstance(data, dict):
            raise FateopsError(
                f"the workspace state {self.state_path} holds {type(data).__name__}, not an object; "
                "restore it from a backup or move it aside to start an empty workspace"
            )
        # Checked whole on load, so a hand-edited or foreign file is one clear error, not a traceback later.
        try:
            return read_state(data)
        except NewerStateError as exc:
            raise FateopsError(
                f"the workspace state {self.state_path} was written by a newer fateops (state version "
                f"{exc.version}; this one reads up to {STATE_VERSION}); upgrade fateops or restore the file from a "
                "backup"
            ) from None
        except ShapeError as exc:
            raise FateopsError(
                f"the workspace state {self.state_path} is not fateops state: {exc}; fix that key or restore "
                "the file from a backup"
            ) from None

    def save_state(self, state: State) -> None:
        self.ensure()
        atomic_write(self.state_path, json.dumps(state.as_dict(), indent=2, sort_keys=True) + "\n")

    def settings(self) -> dict[str, Any]:
        """Inventory variables the operator sets for every host (ports, base dir, runtime...)."""
        if not self.settings_path.exists():
            return {}
        try:
            data = yaml.safe_load(self.settings_path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise FateopsError(f"{self.settings_path} is not valid YAML ({exc}); fix or remove it") from None
        if not isinstance(data, dict):
            raise FateopsError(f"{self.settings_path} must hold a mapping of variable names to values")
        problem = settings_problem(data)
        if problem:
            raise FateopsError(f"{self.settings_path}: {problem}")
        return data

    def new_run_dir(self, function: str) -> Path:
        self.runs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = time.strftime("%Y%m%dT%H%M%S")
        run_dir = Path(tempfile.mkdtemp(prefix=f"{stamp}-{function}-", dir=self.runs_dir))
        self._prune_runs()
        return run_dir

    def _prune_runs(self) -> None:
        runs = sorted(p for p in self.runs_dir.iterdir() if p.is_dir())
        for old in runs[:-KEEP_RUNS]:
            shutil.rmtree(old, ignore_errors=True)

    def write_inventory(self, inventory: dict[str, Any], path: Path | None = None) -> Path:
        """An inventory is data: settings.yml's values and every other string reach Ansible as !unsafe."""
        target = path or self.inventory_path
        atomic_write(target, unsafe_yaml(inventory))
        return target
