"""Training and online serving through the facade, against real FATE 2.2 on this host.

One workspace for the whole module, as a regulator would use it: the seed's single-host sequence (id 1 in every
role) first, then guest 9999 with hosts 10000 and 10001 added to the same deployment.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import time
from pathlib import Path

import pytest
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_v2 import FateFlowClient

from .conftest import (
    SHORT_TRAINING,
    SINGLE_HOST_AUC,
    TRAIN_LANE,
    Facade,
    guest_row,
    metric,
    predict,
    submit,
    supervisorctl,
    wait_for,
)

pytestmark = pytest.mark.integration

LANE = TRAIN_LANE
FLOW = FateFlowClient(host="127.0.0.1", port=LANE.http_port, timeout=30)


@pytest.fixture(scope="module")
def facade(tmp_path_factory) -> Facade:
    facade = Facade(tmp_path_factory.mktemp("train") / "workspace", LANE.base_dir)
    facade.settings(**LANE.ports)
    yield facade
    ids = [str(p["party_id"]) for p in facade.state().get("deployment", {}).get("parties", [])]
    if ids:
        facade("-f", "delete", "-id", *ids, "-ip", *["127.0.0.1"] * len(ids))


# What earlier tests of this module trained, for the later ones.
TRAINED: dict[str, dict] = {}


def test_seed_single_host_sequence(facade: Facade, datasets):
    up = facade("-f", "deploy", "-ip", "127.0.0.1", "-id", "1", "-pw", "x", "-u", "root")
    assert (up.rc, up.out) == (0, "deploy success.\n"), up.err
    breast = datasets["breast"]
    loaded = facade(
        "-f", "upload", "-gp", "1", str(breast["guest"]), "-hp", "1", str(breast["hosts"][0]), "-proj", "test"
    )
    assert (loaded.rc, loaded.out) == (0, "upload success.\n"), loaded.err
    tables = facade.state()["projects"]["test"]["tables"]
    assert [(t["role"], t["party_id"], t["count"]) for t in tables] == [("guest", 1, 569), ("host", 1, 569)]
    assert tables[0]["label_name"] == "y" and tables[1]["label_name"] is None

    job = submit(facade, "hetero_lr", "test")
    assert wait_for(facade, job["jobid"], 3) == ["success"] * 3
    assert abs(metric(FLOW, job["jobid"], 1, "auc") - SINGLE_HOST_AUC) <= 0.01
    TRAINED["single"] = job

    # Every FATE task process of the job was started through the instance's task launcher (on by default), which
    # forked it from its interpreter with FATE imported.
    logs = Path(LANE.base_dir) / "standalone" / "logs"
    started = []
    for log in (logs / job["jobid"]).rglob("*"):
        lines = log.read_text(errors="replace").splitlines() if log.is_file() else []
        started += [after for before, after in itertools.pairwise(lines) if "start process command" in before]
    fate_tasks = [command for command in started if command.split()[1].endswith("/fate_executor.py")]
    assert fate_tasks and all(command.split()[0].endswith("/venv/bin/fate-task-launcher") for command in fate_tasks)
    assert "forking tasks from here" in (logs / "fatetasks.log").read_text()


def test_load_bind_and_predict_match_fate(facade: Facade, datasets):
    job = TRAINED["single"]
    bound = facade("-f", "load_bind", "-mid", job["model_id"], "-mver", job["model_version"], "-mname", "lr1")
    assert (bound.rc, bound.out) == (0, "load_bind success.\n"), bound.err
    again = facade("-f", "load_bind", "-mid", job["model_id"], "-mver", job["model_version"], "-mname", "lr1")
    assert (again.rc, again.out) == (0, "load_bind success.\n"), again.err
    assert "no change" in again.err

    # FATE's own scores of the training rows (the guest's lr_0 output, the final weights applied to each row); FATE's
    # predict job through model_warehouse is test_migrate's, on the migrated model.
    display = FLOW.output_data_display(job["jobid"], "guest", 1, "lr_0")
    rows = next(iter(display.values()))[0]["data"]
    fate_scores = {int(row[1]): float(row[3]) for row in rows}

    # FATE's display holds a page of rows (100 of 569); compare on rows from all over that page.
    shown = sorted(fate_scores)
    chosen = [shown[0], shown[len(shown) // 3], shown[2 * len(shown) // 3], shown[-1]]
    guest_csv = datasets["breast"]["guest"]
    for row_id in chosen:
        rc, answer = predict(facade, "lr1", f"id={row_id}", *guest_row(guest_csv, row_id))
        assert rc == 0 and answer["retcode"] == 0 and answer["retmsg"] == "success", answer
        assert math.isclose(answer["prob"], fate_scores[row_id], abs_tol=1e-6), (row_id, answer, fate_scores[row_id])
    TRAINED["single_scores"] = fate_scores
    TRAINED["ids"] = chosen


def test_predict_by_name(facade: Facade, datasets):
    row_id = TRAINED["ids"][1]
    values = guest_row(datasets["breast"]["guest"], row_id)
    rc, answer = predict(facade, "lr1", f"id={row_id}", *[f"x{i}={v}" for i, v in enumerate(values)])
    assert rc == 0
    assert math.isclose(answer["prob"], TRAINED["single_scores"][row_id], abs_tol=1e-6)


def test_predict_errors(facade: Facade, datasets):
    values = guest_row(datasets["breast"]["guest"], 0)
    cases = {
        "unknown service": (("nosuch", "id=0", *values), 104),
        "wrong feature count": (("lr1", "id=0", *values[:-1]), 102),
        "non-numeric value": (("lr1", "id=0", "abc", *values[1:]), 116),
        "id the host lacks": (("lr1", "id=999999", *values), 2113),
    }
    codes = set()
    for what, (args, retcode) in cases.items():
        rc, answer = predict(facade, *args)
        assert rc != 0, what
        assert answer["retcode"] == retcode, (what, answer)
        assert answer["retmsg"] and answer["prob"] is None, (what, answer)
        codes.add(answer["retcode"])
    assert len(codes) == len(cases)


def serving_pid(base_dir: Path) -> int:
    return int(supervisorctl(base_dir, "pid", "serving").strip())


def test_bindings_survive_a_serving_restart(facade: Facade, datasets):
    row_id = TRAINED["ids"][2]
    values = guest_row(datasets["breast"]["guest"], row_id)
    os.kill(serving_pid(facade.base_dir), signal.SIGKILL)
    # supervisord brings it back; the binding is read from disk, no new load_bind.
    deadline = time.monotonic() + 30
    while True:
        rc, answer = predict(facade, "lr1", f"id={row_id}", *values)
        if rc == 0 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert rc == 0, answer
    assert math.isclose(answer["prob"], TRAINED["single_scores"][row_id], abs_tol=1e-6)
    redeploy = facade("-f", "deploy", "-ip", "127.0.0.1", "-id", "1", "-pw", "x")
    assert redeploy.rc == 0, redeploy.err
    assert predict(facade, "lr1", f"id={row_id}", *values)[0] == 0


def test_hetero_linr(facade: Facade, datasets):
    diabetes = datasets["diabetes"]
    loaded = facade(
        "-f", "upload", "-gp", "1", str(diabetes["guest"]), "-hp", "1", str(diabetes["hosts"][0]), "-proj", "reg"
    )
    assert loaded.rc == 0, loaded.err
    facade.settings(**LANE.ports, fate_job_options={"hetero_linr": SHORT_TRAINING})
    job = submit(facade, "hetero_linr", "reg")
    facade.settings(**LANE.ports)
    assert wait_for(facade, job["jobid"], 3) == ["success"] * 3
    assert metric(FLOW, job["jobid"], 1, "r2_score") > 0.3
    TRAINED["linr"] = job


def test_toy_example_and_unservable_model(facade: Facade):
    job = submit(facade, "example", "test")
    # The toy example runs on guest and host only: no arbiter line.
    assert wait_for(facade, job["jobid"], 2) == ["success"] * 2
    bound = facade("-f", "load_bind", "-mid", job["model_id"], "-mver", "0", "-mname", "toy")
    assert (bound.rc, bound.out) == (1, "load_bind failure.\n")
    assert "has no model to serve" in bound.err


def test_guest_with_two_hosts(facade: Facade, datasets):
    """Three more parties join the seed's on this host (one FATE-Flow plays them all) and take their data. They
    train and serve across hosts in test_multihost (guest and two hosts), and a host that does not answer is the
    models lane's (test_serving_remote)."""
    up = facade("-f", "deploy", "-id", "9999", "10000", "10001", "-ip", *["127.0.0.1"] * 3, "-pw", "x", "x", "x")
    assert (up.rc, up.out) == (0, "deploy success.\n"), up.err
    parties = {p["party_id"] for p in facade.state()["deployment"]["parties"]}
    assert parties == {1, 9999, 10000, 10001}
    # The seed's party and its binding stay.
    row_id = TRAINED["ids"][0]
    assert predict(facade, "lr1", f"id={row_id}", *guest_row(datasets["breast"]["guest"], row_id))[0] == 0
    two = datasets["breast2"]
    loaded = facade(
        "-f", "upload", "-gp", "9999", str(two["guest"]),
        "-hp", "10000", str(two["hosts"][0]), "10001", str(two["hosts"][1]), "-proj", "two",
    )  # fmt: skip
    assert (loaded.rc, loaded.out) == (0, "upload success.\n"), loaded.err
    tables = facade.state()["projects"]["two"]["tables"]
    assert [(t["role"], t["party_id"]) for t in tables] == [("guest", 9999), ("host", 10000), ("host", 10001)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-f", "upload", "-gp", "1", "/nonexistent/g.csv", "-hp", "1", "/nonexistent/h.csv", "-proj", "bad"),
         "/nonexistent/g.csv"),
        (("-f", "upload", "-gp", "5", "g.csv", "-hp", "1", "h.csv", "-proj", "bad"), "party 5 is not deployed"),
        (("-f", "submit", "-alg", "hetero_lr", "-proj", "never", "-m", "1"), "project 'never' has no uploaded data"),
        (("-f", "query", "-jid", "202001010000000000000"), "not known to this workspace"),
        (("-f", "load_bind", "-mid", "nope", "-mver", "0", "-mname", "x"), "model nope version 0 is not known"),
    ],
)  # fmt: skip
def test_bad_input_changes_nothing(facade: Facade, args, message):
    before = facade.state()
    result = facade(*args)
    assert result.rc != 0
    assert message in result.err
    assert result.err.strip().count("\n") == 0 or message in result.err.strip().splitlines()[-1]
    assert facade.state() == before
    if args[1] in ("upload", "load_bind"):
        assert result.out == f"{args[1]} failure.\n"
    if args[1] == "submit":
        assert json.loads(result.out)["retcode"] == 1


def test_bad_files(facade: Facade, tmp_path: Path, datasets):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    no_id = tmp_path / "noid.csv"
    no_id.write_text("y,x0\n1,0.5\n")
    host = str(datasets["breast"]["hosts"][0])
    before = facade.state()
    for path in (empty, no_id):
        result = facade("-f", "upload", "-gp", "1", str(path), "-hp", "1", host, "-proj", "badfile")
        assert (result.rc, result.out) == (1, "upload failure.\n"), path
        assert str(path) in result.err or "header" in result.err or "id" in result.err
    # A guest file without a label uploads, but a supervised job refuses it before reaching FATE.
    unlabelled = tmp_path / "unlabelled.csv"
    unlabelled.write_text("id,x0,x1\n0,0.1,0.2\n1,0.3,0.4\n")
    loaded = facade("-f", "upload", "-gp", "1", str(unlabelled), "-hp", "1", host, "-proj", "nolabel")
    assert loaded.rc == 0, loaded.err
    refused = facade("-f", "submit", "-alg", "hetero_lr", "-proj", "nolabel", "-m", "1")
    assert refused.rc == 1 and "has no label column" in refused.err
    assert set(facade.state()["jobs"]) == set(before["jobs"])
