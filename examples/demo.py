#!/usr/bin/env python3
"""The demo: a guest (9999) and a host (10000) on this machine, driven only through script.py.

Everything lives under .demo/ in the repository (workspace and party directories), so no root rights are needed.
"""

from __future__ import annotations

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


def show_fate_flow() -> None:
    with urllib.request.urlopen("http://127.0.0.1:9380/v2/server/fateflow", timeout=5) as response:
        info = next(iter(json.load(response)["data"].values()))
    print(f"FATE-Flow {info['version']} answers on {info['host']}:{info['http_port']} for parties 9999 and 10000")


def main() -> None:
    facade("-f", "deploy", *PARTIES)
    show_fate_flow()
    facade("-f", "delete", *PARTIES)
    print("\ndemo finished: deployed, answered, deleted")


if __name__ == "__main__":
    main()
