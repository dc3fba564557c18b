#!/usr/bin/env python3
"""Deploy timings on this host, through the facade: cold (FATE runtime built), warm re-deploy, delete.

Usage: python3 benchmarks/deploy.py [--repeat N]
Prints one JSON object. Uses its own workspace and party directory under a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ARGS = ["-id", "9999", "10000", "-ip", "127.0.0.1", "127.0.0.1", "-pw", "x", "x"]


def timed(env: dict[str, str], function: str) -> tuple[float, str]:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(REPO / "script.py"), "-f", function, *ARGS],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"{function} failed: {proc.stderr.strip().splitlines()[-1]}")
    return elapsed, proc.stderr.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="warm re-deploys to time")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fateops-bench-") as scratch:
        env = dict(os.environ, FATEOPS_HOME=f"{scratch}/ws", FATEOPS_BASE_DIR=f"{scratch}/parties")
        cold, _ = timed(env, "deploy")
        warm = []
        summaries = []
        for _ in range(options.repeat):
            elapsed, summary = timed(env, "deploy")
            warm.append(elapsed)
            summaries.append(summary)
        delete, _ = timed(env, "delete")
        redeploy_after_delete, _ = timed(env, "deploy")
        timed(env, "delete")
    print(
        json.dumps(
            {
                "cold_deploy_s": round(cold, 1),
                "warm_redeploy_s": [round(w, 1) for w in warm],
                "warm_redeploy_median_s": round(statistics.median(warm), 1),
                "warm_redeploy_summaries": summaries,
                "delete_s": round(delete, 1),
                "deploy_after_delete_s": round(redeploy_after_delete, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
