"""Model migration through the facade, against real FATE 2.2 on this host (issue: model migration).

One hetero LR model, trained on guest 9999 / host 10000 (arbiter 10000) and served (the models lane's one
training, conftest.models_lane_model, which test_job_options reads first), is migrated to 99 / 100
with the seed's migrate_model.json, the parties are redeployed as 99 / 100, the parts are imported with the seed's
import_model.json, bound and asked again: the probabilities must be the ones served before, and a FATE predict job
(model_warehouse) on the imported model must score as the serving service does.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

import pytest
from ansible_collections.fateops.federation.plugins.module_utils.fate_dag import predict_dag
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_v2 import FateFlowClient
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_wait import wait_for_job

from .conftest import (
    MODELS_LANE,
    REPO,
    Facade,
    TrainedModel,
    delete_deployed,
    deploy_parties,
    served_probability,
    upload_parties,
)

pytestmark = pytest.mark.integration

# Ports and a base dir of their own (shared with the other modules of the lane), so these tests never meet another
# FATE-Flow on this host.
PORTS = MODELS_LANE.ports
FLOW = FateFlowClient(host="127.0.0.1", port=PORTS["fate_flow_http_port"], timeout=30)
JOB_TIMEOUT = 900
NEW = {"guest": 99, "host": 100}

# What earlier tests of this module made, for the later ones.
STATE: dict[str, object] = {}


def seed_config(model_id: str, **changes: object) -> dict:
    """The seed's migrate_model.json for 9999/10000 -> 99/100, naming the model trained here."""
    config = json.loads((REPO / "tests" / "unit" / "fixtures" / "fate_models" / "migrate_model.json").read_text())
    config.update(model_id=model_id, **changes)
    return config


def write_json(path: Path, data: dict) -> str:
    path.write_text(json.dumps(data, indent=2))
    return str(path)


def archives() -> set[Path]:
    directory = MODELS_LANE.base_dir / "temp" / "models"
    return set(directory.glob("*.zip")) if directory.exists() else set()


@pytest.fixture(scope="module")
def data(models_lane_model: TrainedModel) -> dict:
    return models_lane_model.data


@pytest.fixture(scope="module")
def facade(models_lane_model: TrainedModel) -> Facade:
    """The models lane's workspace; this module ends it: it deletes 9999 / 10000, and 99 / 100 when done."""
    facade = models_lane_model.facade
    facade.settings(**PORTS)
    before = archives()
    yield facade
    delete_deployed(facade)
    for path in archives() - before:
        path.unlink()


@pytest.fixture(scope="module")
def trained(models_lane_model: TrainedModel) -> dict:
    """The models lane's hetero LR model on 9999/10000, bound as "before" and asked for a few rows."""
    return {**models_lane_model.job, "probs": models_lane_model.probs}


def test_bad_migration_input_changes_nothing(facade: Facade, trained: dict, tmp_path: Path):
    before = archives()
    cases = {
        "unknown model": (seed_config("202001010000000000000"), "No found output model"),
        "roles differ": (
            seed_config(trained["model_id"], migrate_role={"guest": [99], "host": [100]}),
            "migrate_role has roles",
        ),
        "id not an integer": (
            seed_config(trained["model_id"], migrate_role={"guest": ["9x"], "arbiter": [100], "host": [100]}),
            "is not a party id",
        ),
        "party not deployed": (
            seed_config(
                trained["model_id"],
                role={"guest": [9998], "arbiter": [10000], "host": [10000]},
                execute_party={"guest": [9998]},
            ),
            "party 9998 is not deployed",
        ),
    }
    for what, (config, message) in cases.items():
        result = facade("-f", "migrate", "-conf", write_json(tmp_path / "migrate_model.json", config))
        assert result.rc != 0, what
        answer = json.loads(result.out)
        assert answer["retcode"] == 1 and message in answer["retmsg"], (what, answer)
        assert len(result.err.strip().splitlines()[-1]) < 400, what
    assert archives() == before
    missing = facade("-f", "migrate", "-conf", str(tmp_path / "none.json"))
    assert missing.rc != 0 and "does not exist" in json.loads(missing.out)["retmsg"]


def test_single_mode_migrates_the_initiators_party_only(facade: Facade, trained: dict, tmp_path: Path):
    config = seed_config(
        trained["model_id"], job_parameters={"federated_mode": "SINGLE"}, unify_model_version="single1"
    )
    result = facade("-f", "migrate", "-conf", write_json(tmp_path / "migrate_model.json", config))
    assert result.rc == 0, result.err
    answer = json.loads(result.out)
    assert list(answer["data"]["detail"]) == ["guest"]
    assert "model version is: single1." in answer["data"]["detail"]["guest"]["9999"]["retmsg"]


def test_migrate_with_the_seed_config(facade: Facade, trained: dict, tmp_path: Path):
    result = facade(
        "-f", "migrate", "-conf", write_json(tmp_path / "migrate_model.json", seed_config(trained["model_id"]))
    )
    assert result.rc == 0, result.err
    answer = json.loads(result.out)
    assert answer["retcode"] == 0 and answer["jobId"].isdigit()
    detail = answer["data"]["detail"]
    assert {role: sorted(parties) for role, parties in detail.items()} == {
        "guest": ["9999"],
        "host": ["10000"],
        "arbiter": ["10000"],
    }
    version = answer["jobId"]
    paths = {}
    for role, new_id in (("guest", 99), ("host", 100), ("arbiter", 100)):
        (entry,) = detail[role].values()
        assert entry["retcode"] == 0
        message = entry["retmsg"]
        assert message.startswith("Migrating model successfully.")
        assert f"New model id is: {trained['model_id']}, model version is: {version}." in message
        path = Path(message.split("Model files can be found at '")[1].rstrip("'."))
        assert path.name == f"{role}#{new_id}#{trained['model_id']}_{version}.zip"
        with zipfile.ZipFile(path) as archive:
            names = [info.filename for info in archive.infolist()]
        assert names == [f"{trained['model_id']}/{version}/{role}/{new_id}/lr_0/output_model"]
        paths[role] = path
    STATE.update(version=version, paths=paths)


def test_redeployed_parties_import_bind_and_predict_the_same(facade: Facade, trained: dict, data: dict, tmp_path):
    version, paths = STATE["version"], STATE["paths"]
    gone = facade("-f", "delete", "-id", "9999", "10000", "-ip", "127.0.0.1", "127.0.0.1")
    assert (gone.rc, gone.out) == (0, "delete success.\n"), gone.err
    deploy_parties(facade, NEW)
    upload_parties(facade, data, NEW, "after")

    def import_config(role: str, party_id: int, file: Path) -> str:
        fields = {
            "role": role,
            "party_id": party_id,
            "model_id": trained["model_id"],
            "model_version": version,
            "file": str(file),
            "force_update": False,
        }
        return write_json(tmp_path / f"import_{role}.json", fields)

    # A tampered archive is refused before anything reaches FATE-Flow.
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(paths["guest"]) as source, zipfile.ZipFile(tampered, "w") as target:
        for info in source.infolist():
            target.writestr(info, source.read(info)[:-1] + b"\1")
        target.comment = source.comment
    refused = facade("-f", "import", "-conf", import_config("guest", 99, tampered))
    assert refused.rc != 0 and "was modified after it was written" in json.loads(refused.out)["retmsg"]
    assert facade.state()["models"] == {}

    for role, party_id in (("guest", 99), ("host", 100), ("arbiter", 100)):
        result = facade("-f", "import", "-conf", import_config(role, party_id, paths[role]))
        assert result.rc == 0, result.err
        assert json.loads(result.out)["retcode"] == 0
    again = facade("-f", "import", "-conf", import_config("guest", 99, paths["guest"]))
    assert again.rc == 0 and "changed" not in again.err

    bound = facade("-f", "load_bind", "-mid", trained["model_id"], "-mver", version, "-mname", "after")
    assert (bound.rc, bound.out) == (0, "load_bind success.\n"), bound.err
    for row_id, prob in trained["probs"].items():
        assert math.isclose(served_probability(facade, "after", data, row_id), prob, abs_tol=1e-12), row_id

    # FATE's own predict job finds the imported model through model_warehouse on the new party ids.
    dag = predict_dag(
        "hetero_lr",
        model_id=trained["model_id"],
        model_version=version,
        guest=99,
        hosts=[100],
        arbiter=100,
        guest_table={"namespace": "after", "name": "guest_99"},
        host_tables={"100": {"namespace": "after", "name": "host_100"}},
    )
    job = FLOW.submit_job(dag)
    statuses = wait_for_job(FLOW, job.job_id, timeout=JOB_TIMEOUT, poll_interval=3)
    assert {s.status for s in statuses} == {"success"}, statuses
    display = FLOW.output_data_display(job.job_id, "guest", 99, "lr_0")
    rows = next(iter(display.values()))[0]["data"]
    fate_scores = {int(row[1]): float(row[3]) for row in rows}
    for row_id in sorted(fate_scores)[:: max(1, len(fate_scores) // 3)]:
        served = served_probability(facade, "after", data, row_id)
        assert math.isclose(served, fate_scores[row_id], abs_tol=1e-6), row_id
