# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""What runs on a party host: listening ports and the processes that belong to a party, read from /proc.

Standard library only: modules that use it run on party hosts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

# /proc/net/tcp* state code of a listening socket.
_TCP_LISTEN = "0A"


@dataclass(frozen=True)
class Process:
    pid: int
    command: str


def _command_of(pid_dir: Path) -> str:
    return (pid_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()


def processes_matching(marker: str) -> list[Process]:
    """Processes whose command line contains marker (normally a party's instance directory)."""
    found = []
    own = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == own:
            continue
        try:
            command = _command_of(entry)
        except OSError:
            continue
        if marker in command:
            found.append(Process(int(entry.name), command))
    return found


def _parent_of(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("PPid:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def belongs_to(process: Process, marker: str) -> bool:
    """True when the process or one of its ancestors names marker: an nginx or Erlang worker started by the
    instance's supervisord carries no path of its own, but its parent does."""
    pid: int | None = process.pid
    command = process.command
    seen: set[int] = set()
    while pid and pid > 1 and pid not in seen:
        if marker in command:
            return True
        seen.add(pid)
        pid = _parent_of(pid)
        if not pid or pid <= 1:
            break
        try:
            command = _command_of(Path(f"/proc/{pid}"))
        except OSError:
            return False
    return False


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == _TCP_LISTEN and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(inode)
    return inodes


def listener_of(port: int) -> Process | bool | None:
    """The process listening on port; True when something listens that we may not inspect; None when free."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in wanted:
                    return Process(int(entry.name), _command_of(entry))
        except OSError:
            continue
    return True


def _alive(pid: int) -> bool:
    """A process that has exited but was not yet reaped (a zombie) counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def terminate(processes: list[Process], grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL whatever is still there after grace seconds."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    remaining = list(processes)
    while remaining and time.monotonic() < deadline:
        remaining = [p for p in remaining if _alive(p.pid)]
        if remaining:
            time.sleep(0.2)
    for process in remaining:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
