#!/usr/bin/env python3
"""Where a command's time goes on this machine: CPU seconds by kind of process while it runs (Linux /proc).

    python3 benchmarks/suite_cpu.py [--interval 2] [--out FILE] -- make test

Runs the command, and every --interval seconds reads each process's own CPU time (user + system) from /proc; a
process is charged what it used since it was last seen, under the first kind its command line matches (KINDS).
What processes that lived less than one interval used is not seen one by one: it is the machine's busy time less
what was charged ("short-lived": mostly Ansible's per-task workers and modules, ssh, and the tools they run).
It also counts the FATE jobs and tasks whose directories appear in a task process's command line. Prints one JSON
object (wall and CPU seconds, the share of each kind, the jobs) when the command ends, and exits with its status.
The sampling itself costs about one percent of a core at the default interval.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# The first pattern that matches a command line names its kind.
KINDS = (
    # The task launcher's children (forked task processes) carry its command line (fate-task-launcher serve ...).
    ("fate task", r"fate_executor\.py|fate_flow_executor\.py|fate-task-launcher"),
    ("fate-flow server", r"fate_flow\.fate_flow_server|fate_flow_server\.py"),
    ("serving", r"fateops_serving"),
    # Mitogen's interpreter on a host names itself python(mitogen:user@controller:pid).
    ("ansible", r"ansible|AnsiballZ|\(mitogen:"),
    ("rabbitmq", r"beam\.smp|epmd|erl_child_setup|inet_gethost|rabbitmq"),
    ("nginx", r"nginx"),
    ("docker", r"dockerd|containerd|docker-proxy|docker-untar|docker |/docker-compose|runc"),
    ("pip and builds", r"pip |pip3 |cc1|/ld |debootstrap|dpkg|apt"),
    ("sshd and ssh", r"sshd|ssh "),
    ("pytest", r"pytest|execnet|exec\(eval\(sys\.stdin"),
    ("facade", r"script\.py"),
)
JOB_DIR = re.compile(r"/jobs/(\d{18,})/(\w+)/(\d+)/(\w+)/")


def kind_of(command: str) -> str:
    for name, pattern in KINDS:
        if re.search(pattern, command):
            return name
    return "other"


def machine_busy_ticks() -> tuple[int, int]:
    """(busy, idle) clock ticks of every CPU since boot."""
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields[:8]
    return user + nice + system + irq + softirq + steal, idle + iowait


class Sampler:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.seen: dict[tuple[int, int], int] = {}  # (pid, start time) -> ticks charged so far
        self.by_kind: dict[str, float] = {}
        self.jobs: dict[str, set[tuple[str, str, str]]] = {}
        self.stop = threading.Event()
        self.start = machine_busy_ticks()
        # What ran before the command is not the command's.
        self.sample(charge=False)

    def sample(self, charge: bool = True) -> None:
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                stat = Path(entry.path, "stat").read_text()
                command = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                fields = stat.rsplit(")", 1)[1].split()
                # utime and stime are fields 14 and 15 of stat, the start time 22 (after the command's name).
                ticks, started = int(fields[11]) + int(fields[12]), int(fields[19])
            except (OSError, IndexError, ValueError):
                # Gone between the listing and the reading (a process that is exiting can show an empty stat).
                continue
            key = (int(entry.name), started)
            before = self.seen.get(key, 0)
            self.seen[key] = ticks
            if charge and ticks > before:
                kind = kind_of(command or stat.split("(", 1)[1].split(")", 1)[0])
                self.by_kind[kind] = self.by_kind.get(kind, 0.0) + (ticks - before) / CLOCK_TICKS
            for job, role, party, task in JOB_DIR.findall(command):
                self.jobs.setdefault(job, set()).add((role, party, task))

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            self.sample()

    def report(self, wall: float, command: list[str], status: int) -> dict:
        busy_now, idle_now = machine_busy_ticks()
        busy = (busy_now - self.start[0]) / CLOCK_TICKS
        idle = (idle_now - self.start[1]) / CLOCK_TICKS
        charged = sum(self.by_kind.values())
        kinds = {**self.by_kind, "short-lived": max(0.0, busy - charged)}
        tasks = sum(len(t) for t in self.jobs.values())
        return {
            "command": command,
            "status": status,
            "wall_s": round(wall, 1),
            "cpus": os.cpu_count(),
            "busy_cpu_s": round(busy, 1),
            "idle_cpu_s": round(idle, 1),
            "cpu_s_by_kind": {k: round(v, 1) for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])},
            "share_by_kind": {
                k: round(v / busy, 3) if busy else 0.0 for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])
            },
            "fate_jobs_seen": len(self.jobs),
            "fate_tasks_seen": tasks,
            "fate_task_cpu_s_per_task": round(self.by_kind.get("fate task", 0.0) / tasks, 1) if tasks else None,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between two readings of /proc")
    parser.add_argument("--out", type=Path, help="also write the JSON object here")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run, after --")
    options = parser.parse_args()
    command = options.command[1:] if options.command[:1] == ["--"] else options.command
    if not command:
        parser.error("name the command to run after --, for example: -- make test")
    sampler = Sampler(options.interval)
    thread = threading.Thread(target=sampler.run, daemon=True)
    started = time.monotonic()
    thread.start()
    try:
        status = subprocess.run(command, check=False).returncode
    except OSError as error:
        sampler.stop.set()
        sys.exit(f"suite_cpu: cannot run {command[0]}: {error.strerror}; name a command on PATH or by its path")
    sampler.stop.set()
    thread.join()
    sampler.sample()
    report = sampler.report(time.monotonic() - started, command, status)
    text = json.dumps(report, indent=2)
    if options.out:
        options.out.write_text(text + "\n")
    print(text)
    return status


if __name__ == "__main__":
    sys.exit(main())
