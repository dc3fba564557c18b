"""Integration set-up: the facade run as a user runs it, against real FATE on this host."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Shared by every integration test and molecule: the FATE runtime is built once per machine.
TEST_BASE_DIR = REPO / ".cache" / "test-parties"


@dataclass
class Result:
    rc: int
    out: str
    err: str


class Facade:
    """Runs `python3 script.py` with its own workspace, the way the regulator's systems call it."""

    def __init__(self, home: Path, base_dir: Path = TEST_BASE_DIR) -> None:
        self.home = home
        self.base_dir = base_dir

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["FATEOPS_HOME"] = str(self.home)
        env["FATEOPS_BASE_DIR"] = str(self.base_dir)
        return env

    def __call__(self, *args: str, timeout: float = 900) -> Result:
        proc = subprocess.run(
            [sys.executable, str(REPO / "script.py"), *args],
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=timeout,
            check=False,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def settings(self, **values: object) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "settings.yml").write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in values.items()))

    def state(self) -> dict:
        path = self.home / "state.json"
        return json.loads(path.read_text()) if path.exists() else {}


@pytest.fixture
def facade(tmp_path: Path) -> Facade:
    return Facade(tmp_path / "workspace")


def fate_flow_info(port: int = 9380, host: str = "127.0.0.1") -> dict:
    with urllib.request.urlopen(f"http://{host}:{port}/v2/server/fateflow", timeout=5) as response:
        return json.load(response)


def listening(port: int) -> bool:
    out = subprocess.run(["ss", "-Htln", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
    return bool(out.strip())


def processes_under(path: Path) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if str(path) in line and "pytest" not in line]
