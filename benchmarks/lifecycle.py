#!/usr/bin/env python3
"""The facade's overheads on this host, each measured side by side with its anchor in one run.

    python3 benchmarks/lifecycle.py [--rounds 2] [--queries 20] [--predicts 20]

1. Training: submit-to-success of hetero LR through `script.py -f submit` + `-f query` polling, against the same
   DAG posted straight to FATE-Flow's REST API and polled there; rounds alternate. Ratio = facade / direct.
2. `script.py -f query` wall time, Python start included.
3. Online scoring: `script.py -f predict` wall time for one row, against FATE 2.2's own way to score one row
   (a predict job with model_warehouse on one-row tables). Ratio = FATE job / facade predict.
Deploys guest 9999 and host 10000 on 127.0.0.1 in a workspace of its own, removes them at the end.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _local_pair import PARTIES, POLL, ROOT, example_data, facade, pair_dag, predict_dag, run_job


def through_facade(env: dict[str, str]) -> float:
    started = time.monotonic()
    job = json.loads(facade(env, "-f", "submit", "-alg", "hetero_lr", "-proj", "bench", "-m", "1"))
    while True:
        statuses = facade(env, "-f", "query", "-jid", job["jobid"]).split()
        if all(s == "success" for s in statuses):
            return time.monotonic() - started
        if any(s in ("failed", "canceled") for s in statuses):
            sys.exit(f"job {job['jobid']} ended {statuses}")
        time.sleep(POLL)


def wall(env: dict[str, str], *args: str) -> float:
    started = time.monotonic()
    facade(env, *args)
    return time.monotonic() - started


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_s": round(statistics.median(ordered), 3),
        "p90_s": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 3),
        "n": len(ordered),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="training jobs per side")
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--predicts", type=int, default=20)
    options = parser.parse_args()
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="fateops-bench-") as scratch:
        env = dict(os.environ, FATEOPS_HOME=f"{scratch}/ws")
        env.setdefault("FATEOPS_BASE_DIR", str(ROOT / ".cache" / "test-parties"))
        files = example_data.write("breast", Path(scratch) / "data")
        facade(env, "-f", "deploy", *PARTIES)
        try:
            guest, host = str(files["guest"]), str(files["hosts"][0])
            facade(env, "-f", "upload", "-gp", "9999", guest, "-hp", "10000", host, "-proj", "bench")
            dag = pair_dag("bench")
            via_facade, via_rest = [], []
            for _ in range(options.rounds):
                via_facade.append(through_facade(env))
                elapsed, _ = run_job(dag)
                via_rest.append(elapsed)
            results["train_submit_to_success"] = {
                "facade_s": [round(v, 1) for v in via_facade],
                "direct_rest_s": [round(v, 1) for v in via_rest],
                "ratio_median": round(statistics.median(via_facade) / statistics.median(via_rest), 3),
            }
            state = json.loads((Path(scratch) / "ws" / "state.json").read_text())
            last_job = sorted(state["jobs"])[-1]
            queries = [wall(env, "-f", "query", "-jid", last_job) for _ in range(options.queries)]
            results["query_wall"] = summary(queries)

            model = state["jobs"][last_job]
            facade(env, "-f", "load_bind", "-mid", model["model_id"], "-mver", "0", "-mname", "bench_lr")
            row = files["guest"].read_text().splitlines()[1].split(",")
            predicts = [
                wall(env, "-f", "predict", "-mname", "bench_lr", "-params", f"id={row[0]}", *row[2:])
                for _ in range(options.predicts)
            ]
            results["predict_wall"] = summary(predicts)

            # FATE's own way: one-row tables and a predict job reading the trained model from its warehouse.
            one = Path(scratch) / "one"
            one.mkdir()
            for name, source in (("guest.csv", files["guest"]), ("host.csv", files["hosts"][0])):
                lines = source.read_text().splitlines()
                (one / name).write_text(lines[0] + "\n" + lines[1] + "\n")
            facade(env, "-f", "upload", "-gp", "9999", str(one / "guest.csv"), "-hp", "10000", str(one / "host.csv"),
                   "-proj", "benchone")  # fmt: skip
            job_dag = predict_dag(
                "hetero_lr",
                model_id=model["model_id"],
                model_version="0",
                guest="9999",
                hosts=["10000"],
                arbiter="10000",
                guest_table={"namespace": "benchone", "name": "guest_9999"},
                host_tables={"10000": {"namespace": "benchone", "name": "host_10000"}},
            )
            fate_predict, _ = run_job(job_dag)
            results["fate_predict_job_one_row_s"] = round(fate_predict, 1)
            results["fate_job_over_facade_predict"] = round(fate_predict / results["predict_wall"]["median_s"], 1)
        finally:
            facade(env, "-f", "delete", *PARTIES)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
