"""What the benchmarks that train on one host share: the guest 9999 / host 10000 pair on 127.0.0.1, the facade
run as a user runs it, and a job posted straight to FATE-Flow's REST API and polled there until it ends."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "collections"))
sys.path.insert(0, str(ROOT / "examples"))

# The example data and FATE's DAGs, re-exported for the benchmarks (importable once the paths above are set).
import data as example_data
from ansible_collections.fateops.federation.plugins.module_utils.fate_dag import build_dag, predict_dag
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_v2 import FateFlowClient

__all__ = ["PARTIES", "POLL", "ROOT", "example_data", "facade", "pair_dag", "predict_dag", "run_job"]

PARTIES = ["-id", "9999", "10000", "-ip", "127.0.0.1", "127.0.0.1"]
POLL = 2.0
FLOW = FateFlowClient(port=9380, timeout=30)


def facade(env: dict[str, str], *args: str) -> str:
    """script.py's stdout; a failure ends the benchmark with the facade's last line."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "script.py"), *args], env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        sys.exit(f"script.py {' '.join(args[:2])} failed: {proc.stderr.strip().splitlines()[-1]}")
    return proc.stdout


def pair_dag(namespace: str, options: dict | None = None) -> dict:
    """hetero LR's training DAG over the tables upload makes for the pair in ``namespace``."""
    return build_dag(
        "hetero_lr",
        guest="9999",
        hosts=["10000"],
        guest_table={"namespace": namespace, "name": "guest_9999"},
        host_tables={"10000": {"namespace": namespace, "name": "host_10000"}},
        options=options,
    )


def run_job(dag: dict, poll: float = POLL) -> tuple[float, str]:
    """Seconds from posting ``dag`` to FATE-Flow until every role's job succeeded, and the job id."""
    started = time.monotonic()
    job = FLOW.submit_job(dag)
    while True:
        statuses = [s.status for s in FLOW.job_statuses(job.job_id)]
        if statuses and all(s == "success" for s in statuses):
            return time.monotonic() - started, job.job_id
        if any(s in ("failed", "canceled") for s in statuses):
            sys.exit(f"job {job.job_id} ended {statuses}")
        time.sleep(poll)
