"""The seed's single-host sequence exactly as a new user runs it: default settings and the user's own data.

No FATEOPS_* variable and no settings.yml: a fresh HOME (so the workspace is ~/.fateops) and FATE under the default
base dir /data/projects/fate. The data is not our example's shape: the match column is `uid` with string ids, the
label column is `label`, the features have their own names, and the host's rows come in another order.
"""

from __future__ import annotations

import ast
import contextlib
import csv
import fcntl
import json
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_v2 import FateFlowClient
from sklearn.datasets import load_breast_cancer

from .conftest import JOB_TIMEOUT, REPO, SINGLE_HOST_AUC, Result, metric, processes_with

pytestmark = pytest.mark.integration

DEFAULT_BASE_DIR = Path("/data/projects/fate")
FLOW = FateFlowClient(host="127.0.0.1", port=9380, timeout=30)
GUEST_FEATURES = 10


class User:
    """`python3 script.py ...` from the user's shell: their HOME, no fateops variable of any kind."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FATEOPS_")}
        self.env["HOME"] = str(home)

    def __call__(self, *args: str, timeout: float = 1200) -> Result:
        proc = subprocess.run(
            ["python3", str(REPO / "script.py"), *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def state(self) -> dict:
        return json.loads((self.home / ".fateops" / "state.json").read_text())


def _customer_id(index: int) -> str:
    return f"cust-{index * 7919 % 100000:05d}"


def write_user_data(directory: Path) -> dict[str, Path]:
    """The breast cancer set as a user's two organisations would hold it (standardised as FATE's examples are)."""
    bunch = load_breast_cancer()
    values = (bunch.data - bunch.data.mean(axis=0)) / bunch.data.std(axis=0)
    names = [name.replace(" ", "_") for name in bunch.feature_names]
    ids = [_customer_id(i) for i in range(len(values))]
    directory.mkdir(parents=True, exist_ok=True)
    guest, host = directory / "bank.csv", directory / "insurer.csv"
    with guest.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["uid", "label", *names[:GUEST_FEATURES]])
        for row_id, label, row in zip(ids, bunch.target, values, strict=True):
            writer.writerow([row_id, int(label), *(f"{v:.6f}" for v in row[:GUEST_FEATURES])])
    order = list(range(len(values)))
    random.Random(7).shuffle(order)
    with host.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["uid", *names[GUEST_FEATURES:]])
        for index in order:
            writer.writerow([ids[index], *(f"{v:.6f}" for v in values[index][GUEST_FEATURES:])])
    return {"guest": guest, "host": host, "names": names[:GUEST_FEATURES]}


def _remove_leftover_instance() -> None:
    """A run of this module that was killed leaves its instance behind, owned by a workspace that is gone; this
    module's first deploy would rightly be refused. The FATE runtime under the base dir is kept."""
    instance = DEFAULT_BASE_DIR / "standalone"
    if not instance.exists():
        return
    for pid in processes_with(str(instance)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(instance)


@pytest.fixture(scope="module")
def user(tmp_path_factory) -> User:
    _remove_leftover_instance()
    user = User(tmp_path_factory.mktemp("home"))
    yield user
    user("-f", "delete", "-ip", "127.0.0.1", "-id", "1")


def _wait(user: User, job_id: str) -> list[str]:
    deadline = time.monotonic() + JOB_TIMEOUT
    while True:
        result = user("-f", "query", "-jid", job_id)
        assert result.rc == 0, result.err
        lines = result.out.splitlines()
        if all(line == "success" for line in lines) or any(line in ("failed", "canceled") for line in lines):
            return lines
        assert time.monotonic() < deadline, f"job {job_id} still {lines}"
        time.sleep(3)


def _guest_rows(path: Path) -> dict[str, list[str]]:
    with path.open() as handle:
        reader = csv.reader(handle)
        next(reader)
        return {row[0]: row[2:] for row in reader}


def _playbook_processes(home: Path) -> list[int]:
    return list(processes_with("ansible-playbook", str(home)))


@pytest.mark.parametrize("signum", [signal.SIGINT])
def test_ctrl_c_stops_the_playbook_before_the_lock_is_freed(user: User, signum: int):
    """Ctrl-C on a deploy: the playbook's processes end first, then the failure result and what may be half done;
    the next test's deploy converges from there."""
    proc = subprocess.Popen(
        ["python3", str(REPO / "script.py"), "-f", "deploy", "-ip", "127.0.0.1", "-id", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=user.env,
    )
    try:
        seen = []
        for line in proc.stderr:
            seen.append(line)
            # A task has started on the host: the playbook is changing it.
            if "127.0.0.1: party_native:" in line:
                break
        assert _playbook_processes(user.home), "".join(seen)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        # A failed check must not leave the deploy running for the next test to wait on.
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 130, err
    assert out == "deploy failure.\n"
    assert "stopped by SIGINT" in err and "may be half done: 127.0.0.1" in err
    assert _playbook_processes(user.home) == []
    # The workspace lock is free at once.
    with (user.home / ".fateops" / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    assert not (user.home / ".fateops" / "state.json").exists() or user.state()["deployment"]["parties"] == []


def test_seed_sequence_on_default_settings_with_the_users_own_data(user: User, tmp_path_factory):
    data = write_user_data(tmp_path_factory.mktemp("data"))

    deployed = user("-f", "deploy", "-ip", "127.0.0.1", "-id", "1")
    assert (deployed.rc, deployed.out) == (0, "deploy success.\n"), deployed.err
    assert (DEFAULT_BASE_DIR / "standalone").is_dir()
    assert not (user.home / ".fateops" / "settings.yml").exists()

    uploaded = user("-f", "upload", "-gp", "1", str(data["guest"]), "-hp", "1", str(data["host"]), "-proj", "bank_x")
    assert (uploaded.rc, uploaded.out) == (0, "upload success.\n"), uploaded.err
    tables = user.state()["projects"]["bank_x"]["tables"]
    assert [(t["role"], t["id_name"], t["label_name"], t["count"]) for t in tables] == [
        ("guest", "uid", "label", 569),
        ("host", "uid", None, 569),
    ]

    submitted = user("-f", "submit", "-alg", "hetero_lr", "-proj", "bank_x", "-m", "1")
    assert submitted.rc == 0, submitted.err
    job = json.loads(submitted.out)
    assert ast.literal_eval(submitted.out.strip()) == job and job["retcode"] == 0
    assert _wait(user, job["jobid"]) == ["success"] * 3
    # The same rows as our example data, so the same model quality.
    assert abs(metric(FLOW, job["jobid"], 1, "auc") - SINGLE_HOST_AUC) <= 0.01

    bound = user("-f", "load_bind", "-mid", job["model_id"], "-mver", job["model_version"], "-mname", "bank_lr")
    assert (bound.rc, bound.out) == (0, "load_bind success.\n"), bound.err

    # FATE's own scores of the training rows, by the user's ids; the service must give the same for each form.
    display = FLOW.output_data_display(job["jobid"], "guest", 1, "lr_0")
    fate_rows = next(iter(display.values()))[0]["data"]
    fate_score = {str(row[1]): float(row[3]) for row in fate_rows}
    guest_rows = _guest_rows(data["guest"])
    checked = 0
    for customer in sorted(fate_score)[:3]:
        values = guest_rows[customer]
        named = [f"{name}={value}" for name, value in zip(data["names"], values, strict=True)]
        for params in ([*values, f"id={customer}"], [*named, f"uid={customer}"], [*named, f"id={customer}"]):
            answer = user("-f", "predict", "-mname", "bank_lr", "-params", *params, timeout=60)
            assert answer.rc == 0, (params, answer.out, answer.err)
            parsed = json.loads(answer.out)
            assert parsed["retcode"] == 0 and parsed["retmsg"] == "success"
            assert abs(parsed["prob"] - fate_score[customer]) <= 1e-6
            checked += 1
    assert checked == 9

    unknown = user("-f", "predict", "-mname", "bank_lr", "-params", *guest_rows[customer], "uid=nobody")
    assert unknown.rc != 0 and json.loads(unknown.out)["retcode"] != 0

    removed = user("-f", "delete", "-ip", "127.0.0.1", "-id", "1")
    assert (removed.rc, removed.out) == (0, "delete success.\n"), removed.err
    assert not (DEFAULT_BASE_DIR / "standalone").exists()
    assert np.isfinite(fate_score[customer])
