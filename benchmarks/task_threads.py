#!/usr/bin/env python3
"""hetero LR with FATE-Flow's task processes at one numeric thread each (fate_flow_task_threads: 1, the default)
against the libraries' own default (0: one thread per core in every process), side by side in one run.

    python3 benchmarks/task_threads.py [--rounds 2] [--epochs 10]

Deploys guest 9999 and host 10000 on 127.0.0.1 in a workspace of its own, uploads the example data once, then
alternates the setting (a re-deploy between, which restarts FATE-Flow through its handler) and times the same
hetero LR job posted to FATE-Flow: wall time from submit to success, and the CPU seconds the whole machine spent
meanwhile (/proc/stat: run it on a quiet machine). Ratio = threads 1 / threads 0. Removes the parties at the end.
Prints one JSON object.
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
    parser.add_argument("--rounds", type=int, default=2, help="jobs per setting")
    parser.add_argument("--epochs", type=int, default=10, help="hetero LR epochs (FATE's default is 10)")
    options = parser.parse_args()
    runs: dict[int, list[tuple[float, float]]] = {0: [], 1: []}
    with tempfile.TemporaryDirectory(prefix="fateops-bench-") as scratch:
        home = Path(scratch) / "ws"
        home.mkdir()
        env = dict(os.environ, FATEOPS_HOME=str(home))
        env.setdefault("FATEOPS_BASE_DIR", str(ROOT / ".cache" / "test-parties"))
        files = example_data.write("breast", Path(scratch) / "data")
        dag = pair_dag("bench", {"epochs": options.epochs})
        try:
            for round_ in range(options.rounds):
                for threads in (0, 1) if round_ % 2 == 0 else (1, 0):
                    (home / "settings.yml").write_text(f"fate_flow_task_threads: {threads}\n")
                    facade(env, "-f", "deploy", *PARTIES)
                    if not round_ and threads == 0:
                        guest, host = str(files["guest"]), str(files["hosts"][0])
                        facade(env, "-f", "upload", "-gp", "9999", guest, "-hp", "10000", host, "-proj", "bench")
                    runs[threads].append(train(dag))
                    print(f"threads {threads}: {runs[threads][-1][0]:.1f} s, {runs[threads][-1][1]:.1f} CPU-s",
                          file=sys.stderr)  # fmt: skip
        finally:
            facade(env, "-f", "delete", *PARTIES)
    results: dict[str, object] = {"epochs": options.epochs, "rounds": options.rounds}
    for threads, measured in runs.items():
        results[f"threads_{threads}"] = {
            "wall_s": [round(w, 1) for w, _ in measured],
            "cpu_s": [round(c, 1) for _, c in measured],
        }
    for index, key in ((0, "wall"), (1, "cpu")):
        one, zero = (statistics.median(v[index] for v in runs[t]) for t in (1, 0))
        results[f"{key}_ratio_1_over_0"] = round(one / zero, 3)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
