#!/usr/bin/env python3
"""hetero LR under two values of one party setting, side by side in one run: by default FATE's task launcher
(fate_task_launcher: true, the default, against false: every task process imports FATE itself), or
FATE-Flow's task processes at one numeric thread each (fate_flow_task_threads: 1, the default, against 0).

    python3 benchmarks/task_setting.py [--setting fate_task_launcher|fate_flow_task_threads] [--rounds 2] [--epochs 10]

Deploys guest 9999 and host 10000 on 127.0.0.1 in a workspace of its own, uploads the example data once, then
alternates the setting (a re-deploy between, which restarts what the setting touches through the role's handlers
and supervisord) and times the same hetero LR job posted to FATE-Flow: wall time from submit to success, and the
CPU seconds the whole machine spent meanwhile (/proc/stat: run it on a quiet machine). Ratio = the default's
value / the other one. Removes the parties at the end. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from _local_pair import PARTIES, ROOT, example_data, facade, pair_dag, run_job

TICKS = os.sysconf("SC_CLK_TCK")
# Each setting's default, then the value it is measured against.
SETTINGS = {"fate_task_launcher": ("true", "false"), "fate_flow_task_threads": ("1", "0")}


def busy_seconds() -> float:
    """CPU seconds the machine has spent busy since boot (every state but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle, iowait = fields[3], fields[4]
    return (sum(fields[:8]) - idle - iowait) / TICKS


def train(dag: dict) -> tuple[float, float]:
    cpu = busy_seconds()
    elapsed, _ = run_job(dag, poll=1.0)
    return elapsed, busy_seconds() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", choices=sorted(SETTINGS), default="fate_task_launcher")
    parser.add_argument("--rounds", type=int, default=2, help="jobs per value")
    parser.add_argument("--epochs", type=int, default=10, help="hetero LR epochs (FATE's default is 10)")
    options = parser.parse_args()
    default, other = SETTINGS[options.setting]
    runs: dict[str, list[tuple[float, float]]] = {default: [], other: []}
    with tempfile.TemporaryDirectory(prefix="fateops-bench-") as scratch:
        home = Path(scratch) / "ws"
        home.mkdir()
        env = dict(os.environ, FATEOPS_HOME=str(home))
        env.setdefault("FATEOPS_BASE_DIR", str(ROOT / ".cache" / "test-parties"))
        files = example_data.write("breast", Path(scratch) / "data")
        dag = pair_dag("bench", {"epochs": options.epochs})
        try:
            for round_ in range(options.rounds):
                for value in (other, default) if round_ % 2 == 0 else (default, other):
                    (home / "settings.yml").write_text(f"{options.setting}: {value}\n")
                    facade(env, "-f", "deploy", *PARTIES)
                    if not round_ and value == other:
                        guest, host = str(files["guest"]), str(files["hosts"][0])
                        facade(env, "-f", "upload", "-gp", "9999", guest, "-hp", "10000", host, "-proj", "bench")
                    runs[value].append(train(dag))
                    wall, cpu = runs[value][-1]
                    print(f"{options.setting} {value}: {wall:.1f} s, {cpu:.1f} CPU-s", file=sys.stderr)
        finally:
            facade(env, "-f", "delete", *PARTIES)
    results: dict[str, object] = {"setting": options.setting, "epochs": options.epochs, "rounds": options.rounds}
    for value, measured in runs.items():
        results[value] = {"wall_s": [round(w, 1) for w, _ in measured], "cpu_s": [round(c, 1) for _, c in measured]}
    for index, key in ((0, "wall"), (1, "cpu")):
        mine, theirs = (statistics.median(v[index] for v in runs[value]) for value in (default, other))
        results[f"{key}_ratio_{default}_over_{other}"] = round(mine / theirs, 3)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
