"""FATE 2.2 job options through the facade's submit (settings fate_job_options -> fate_job), on real FATE.

One training job carries priority, auto_retries, cores, task cores, a task timeout, the provider and the
scheduler party (the models lane's one training, conftest.models_lane_model, which test_migrate then migrates);
a second job inherits the first one's reader outputs. Then every output is read back: metrics,
the model, the data tables, and the model and data downloads.
"""

from __future__ import annotations

import io
import json
import tarfile
import time

import pytest
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_v2 import FateFlowClient

from .conftest import (
    MODELS_LANE,
    MODELS_LANE_JOB_CONF,
    MODELS_LANE_PROJECT,
    Facade,
    TrainedModel,
    submit_with_options,
)

pytestmark = pytest.mark.integration

FLOW = FateFlowClient(host="127.0.0.1", port=MODELS_LANE.http_port, timeout=30)
PORTS = MODELS_LANE.ports
JOB_CONF = MODELS_LANE_JOB_CONF


def submit_and_wait(facade: Facade, job_conf: dict) -> str:
    return submit_with_options(facade, PORTS, job_conf, MODELS_LANE_PROJECT)


@pytest.fixture(scope="module")
def facade(models_lane_model: TrainedModel) -> Facade:
    """The models lane's workspace: guest 9999 and host 10000 with the breast data as project "options"."""
    return models_lane_model.facade


@pytest.fixture(scope="module")
def trained(models_lane_model: TrainedModel) -> str:
    """The models lane's training job, submitted with JOB_CONF in settings.yml."""
    return models_lane_model.job["jobid"]


def test_job_options_reach_fate(trained: str):
    (record,) = FLOW.query_job(trained, role="guest", party_id="9999")
    conf = record["dag"]["dag"]["conf"]
    for key in ("priority", "auto_retries", "cores", "computing_partitions", "scheduler_party_id"):
        assert conf[key] == JOB_CONF[key], key
    assert conf["task"]["timeout"] == 1800 and conf["task"]["provider"] == "fate:2.2.0@local"
    assert record["cores"] == 4
    tasks = FLOW.query_tasks(trained, role="guest", party_id="9999")
    assert {t["task_name"] for t in tasks} >= {"reader_0", "psi_0", "lr_0", "evaluation_0"}
    assert all(t["provider_name"] == "fate:2.2.0@local" for t in tasks)
    assert all(t["timeout"] == 1800 for t in tasks), [(t["task_name"], t["timeout"]) for t in tasks]
    assert conf["task"]["engine_run"] == {"cores": 2}
    # Task cores: FATE runs every task with the engine_run given (its default is the job's cores).
    assert all(t["task_run"] == {"cores": 2} for t in tasks), [(t["task_name"], t["task_run"]) for t in tasks]


def test_bad_job_option_is_refused_before_fate(facade: Facade):
    facade.settings(**PORTS, fate_job_options={"hetero_lr": {"job_conf": {"priorty": 1}}})
    before = facade.state()["jobs"]
    refused = facade("-f", "submit", "-alg", "hetero_lr", "-proj", "options", "-m", "1")
    assert refused.rc != 0 and "has no option 'priorty'" in json.loads(refused.out)["retmsg"]
    assert facade.state()["jobs"] == before


def test_outputs_of_the_job(trained: str):
    metrics = FLOW.output_metric(trained, "guest", 9999, "evaluation_0")
    assert "auc" in json.dumps(metrics)
    model = FLOW.output_model(trained, "guest", 9999, "lr_0")
    assert model["output_model"]["data"]["estimator"]["header"] == [f"x{i}" for i in range(10)]
    tables = FLOW.output_data_table(trained, "guest", 9999, "psi_0")
    assert tables["output_data"][0]["namespace"] and tables["output_data"][0]["name"]
    with tarfile.open(fileobj=io.BytesIO(FLOW.output_model_download(trained, "guest", 9999, "lr_0"))) as bundle:
        assert any(name.endswith(".yaml") for name in bundle.getnames())
    data = FLOW.output_data_download(trained, "guest", 9999, "lr_0")
    with tarfile.open(fileobj=io.BytesIO(data)) as bundle:
        assert bundle.getnames()


def test_inheritance_reuses_the_readers(facade: Facade, trained: str):
    started = time.monotonic()
    child = submit_and_wait(facade, {"inheritance": {"job_id": trained, "task_list": ["reader_0", "psi_0"]}})
    took = time.monotonic() - started
    tasks = {t["task_name"]: t for t in FLOW.query_tasks(child, role="guest", party_id="9999")}
    (record,) = FLOW.query_job(child, role="guest", party_id="9999")
    assert record["inheritance"]["job_id"] == trained
    # The inherited tasks did not run again: their outputs are the parent's tables.
    assert FLOW.output_data_table(child, "guest", 9999, "psi_0") == FLOW.output_data_table(
        trained, "guest", 9999, "psi_0"
    )
    assert tasks["lr_0"]["status"] == "success", (tasks, took)
