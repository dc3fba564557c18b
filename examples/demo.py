#!/usr/bin/env python3
"""The demo: a guest (9999) and a host (10000) on this machine, driven through script.py as a regulator would.

Deploy, upload the breast cancer data (made from scikit-learn's copy, nothing downloaded), train hetero LR, wait,
print the AUC, bind the model to an online service and predict one row. Everything lives under .demo/ in the
repository (workspace, party directories, data), so no root rights are needed. The parties keep running at the
end; the last line says how to delete them.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / ".demo"
PARTIES = ["-id", "9999", "10000", "-ip", "127.0.0.1", "127.0.0.1", "-pw", "unused", "unused"]


def facade(*args: str) -> str:
    env = dict(os.environ, FATEOPS_HOME=str(DEMO / "workspace"), FATEOPS_BASE_DIR=str(DEMO / "parties"))
    shown = " ".join(args)
    print(f"\n$ python3 script.py {shown}", flush=True)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(REPO / "script.py"), *args], env=env, stdout=subprocess.PIPE, text=True, check=False
    )
    print(proc.stdout, end="")
    print(f"  ({time.monotonic() - started:.1f}s)", flush=True)
    if proc.returncode != 0:
        sys.exit(f"demo stopped: `script.py {shown}` failed (exit {proc.returncode})")
    return proc.stdout


def wait_for_job(job_id: str) -> list[str]:
    while True:
        statuses = facade("-f", "query", "-jid", job_id).split()
        if all(s == "success" for s in statuses) or any(s in ("failed", "canceled") for s in statuses):
            return statuses
        time.sleep(10)


def auc(job_id: str) -> float:
    sys.path.insert(0, str(REPO / "collections"))
    from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_v2 import FateFlowClient

    metrics = json.dumps(FateFlowClient(port=9380).output_metric(job_id, "guest", 9999, "evaluation_0"))
    marker = '"metric": "auc", "val": '
    return float(metrics.split(marker, 1)[1].split("}", 1)[0])


def show_fate_flow() -> None:
    with urllib.request.urlopen("http://127.0.0.1:9380/v2/server/fateflow", timeout=5) as response:
        info = next(iter(json.load(response)["data"].values()))
    print(f"FATE-Flow {info['version']} answers on {info['host']}:{info['http_port']} for parties 9999 and 10000")


def main() -> None:
    sys.path.insert(0, str(REPO / "examples"))
    import data

    files = data.write("breast", DEMO / "data")
    facade("-f", "deploy", *PARTIES)
    show_fate_flow()
    facade("-f", "upload", "-gp", "9999", str(files["guest"]), "-hp", "10000", str(files["hosts"][0]), "-proj", "demo")
    job = ast.literal_eval(facade("-f", "submit", "-alg", "hetero_lr", "-proj", "demo", "-m", "1"))
    statuses = wait_for_job(job["jobid"])
    if statuses != ["success"] * 3:
        sys.exit(f"demo stopped: the training job ended {statuses}")
    print(f"\nhetero LR trained: job {job['jobid']}, train AUC {auc(job['jobid']):.4f}")
    facade("-f", "load_bind", "-mid", job["model_id"], "-mver", job["model_version"], "-mname", "demo_lr")
    row = (DEMO / "data" / "guest.csv").read_text().splitlines()[1].split(",")
    facade("-f", "predict", "-mname", "demo_lr", "-params", f"id={row[0]}", *row[2:])
    print(
        f"\ndemo finished. To delete the parties: FATEOPS_HOME={DEMO / 'workspace'} "
        f"FATEOPS_BASE_DIR={DEMO / 'parties'} python3 script.py -f delete {' '.join(PARTIES)}"
    )


if __name__ == "__main__":
    main()
