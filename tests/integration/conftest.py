"""Integration set-up: the facade run as a user runs it, against real FATE on this host."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_v2 import FateFlowClient
from ansible_collections.fateops.federation.plugins.module_utils.model_migration import (
    ArchiveIdentity,
    archive_name,
    parse_migrate_config,
    rewrite_archive,
)

REPO = Path(__file__).resolve().parents[2]
# Shared by every integration test and molecule, and kept outside the clone so that the FATE runtime (keyed by
# the hash of its pins) is built once per machine, not once per checkout.
TEST_CACHE = Path(os.environ.get("FATEOPS_TEST_CACHE", "/var/cache/fateops-test"))
TEST_BASE_DIR = TEST_CACHE / "test-parties"
JOB_TIMEOUT = 900
# Train AUC of hetero LR on the example breast data with one standalone FATE-Flow (guest, host and arbiter id 1),
# as measured when the single-host path was built; every training test, single- or multi-host, must stay within
# 0.01 of it.
SINGLE_HOST_AUC = 0.9923


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


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> dict[str, dict]:
    """The example data sets (examples/data.py), written once per test module."""
    sys.path.insert(0, str(REPO / "examples"))
    import data as example_data

    root = tmp_path_factory.mktemp("data")
    return {
        "breast": example_data.write("breast", root / "breast"),
        "breast2": example_data.write("breast", root / "breast2", hosts=2),
        "diabetes": example_data.write("diabetes", root / "diabetes"),
    }


@pytest.fixture
def facade(tmp_path: Path) -> Facade:
    return Facade(tmp_path / "workspace")


def fate_flow_info(port: int = 9380, host: str = "127.0.0.1") -> dict:
    with urllib.request.urlopen(f"http://{host}:{port}/v2/server/fateflow", timeout=5) as response:
        return json.load(response)


def listening(port: int) -> bool:
    out = subprocess.run(["ss", "-Htln", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
    return bool(out.strip())


def processes_with(*words: str) -> dict[int, str]:
    """pid -> command line of every process whose command line holds every word, this test's own process aside."""
    out = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True, check=True).stdout
    found = {}
    for line in out.splitlines()[1:]:
        pid, _, args = line.strip().partition(" ")
        if all(word in args for word in words) and int(pid) != os.getpid():
            found[int(pid)] = args
    return found


def processes_under(path: Path) -> list[str]:
    return [args for args in processes_with(str(path)).values() if "pytest" not in args]


def submit(facade: Facade, algorithm: str, project: str) -> dict:
    result = facade("-f", "submit", "-alg", algorithm, "-proj", project, "-m", "1")
    assert result.rc == 0, result.err
    # The seed's callers parse it either way.
    parsed = json.loads(result.out)
    assert ast.literal_eval(result.out.strip()) == parsed
    assert parsed["retcode"] == 0
    assert parsed["model_id"] == parsed["jobid"] and parsed["model_version"] == "0"
    return parsed


def wait_for(facade: Facade, job_id: str, roles: int) -> list[str]:
    deadline = time.monotonic() + JOB_TIMEOUT
    while True:
        result = facade("-f", "query", "-jid", job_id)
        assert result.rc == 0, result.err
        lines = result.out.splitlines()
        assert len(lines) == roles, result.out
        if all(line == "success" for line in lines) or any(line in ("failed", "canceled") for line in lines):
            return lines
        assert time.monotonic() < deadline, f"job {job_id} still {lines}"
        time.sleep(3)


def _find_metric(node, name: str):
    if isinstance(node, dict):
        if node.get("metric") == name:
            return node["val"]
        children = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        found = _find_metric(child, name)
        if found is not None:
            return found
    return None


def metric(flow: FateFlowClient, job_id: str, party_id: int, name: str) -> float:
    """A metric of the guest's evaluation_0 (nested per task and data set in FATE's answer), from its FATE-Flow."""
    metrics = flow.output_metric(job_id, "guest", party_id, "evaluation_0")
    value = _find_metric(metrics, name)
    assert value is not None, f"no {name} in {str(metrics)[:300]}"
    return float(value)


def predict(facade: Facade, service: str, *params: str) -> tuple[int, dict]:
    result = facade("-f", "predict", "-mname", service, "-params", *params, timeout=60)
    return result.rc, json.loads(result.out)


def guest_row(path: Path, row_id: int) -> list[str]:
    for line in path.read_text().splitlines()[1:]:
        fields = line.split(",")
        if int(fields[0]) == row_id:
            return fields[2:]
    raise AssertionError(f"no row {row_id} in {path}")


# A real FATE 2.2 model (the unit tests' fixtures): guest 9999 and host 10000 of training job FIXTURE_MODEL_ID.
FIXTURE_MODELS = REPO / "tests" / "unit" / "fixtures" / "fate_models"
FIXTURE_MODEL_ID = "202611220632017786920"


def migrated_fixture_parts(directory: Path, version: str, migrate_config: dict) -> list[dict]:
    """The fixture model's guest and host parts migrated to 99 / 100 as archives in directory: the parts'
    import_model.json fields (role, party_id, model_id, model_version, file)."""
    party_map = parse_migrate_config(migrate_config).party_map()
    parts = []
    for role, old, new in (("guest", "9999", "99"), ("host", "10000", "100")):
        path = directory / archive_name(role, new, FIXTURE_MODEL_ID, version)
        rewrite_archive(
            FIXTURE_MODELS / f"{FIXTURE_MODEL_ID}_0_{role}_{old}.zip",
            path,
            ArchiveIdentity(FIXTURE_MODEL_ID, "0", role, old),
            party_map,
            FIXTURE_MODEL_ID,
            version,
        )
        parts.append(
            {
                "role": role,
                "party_id": int(new),
                "model_id": FIXTURE_MODEL_ID,
                "model_version": version,
                "file": str(path),
            }
        )
    return parts
