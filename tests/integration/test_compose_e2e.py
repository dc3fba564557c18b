"""Compose parties through the facade, end to end, on the fateops images and the real Docker engine.

Default settings plus `fate_runtime: compose` (and the lane's ports): the images come from the project's own
path (playbooks/images.yml, what `make images` runs; warm it only looks the tags up), guest 31 and host 32 are
two compose projects on this Docker host (the second with shifted ports), a re-deploy changes nothing, the
breast data is uploaded, hetero_lr trains once with the AUC of the native runtime, load_bind and predict give
FATE's own score, a third party joins and leaves in place (the others' FATE-Flow containers keep running), a
killed FATE-Flow or serving container comes back, so do both projects after the engine restarts, and delete keeps
the named volumes: a re-deploy finds the uploaded tables and the bindings still there. One deployment and one
training are shared by the module's tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_errors import FateFlowError
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_v2 import FateFlowClient

from .conftest import (
    COMPOSE_LANE,
    IMAGES_RECORD,
    MAKE_DOCKER_ENGINE,
    REPO,
    SHORT_TRAINING,
    SHORT_TRAINING_AUC,
    TEST_CACHE,
    Facade,
    Result,
    docker_engine,
    guest_row,
    metric,
    predict,
    short_workspace,
    submit,
    wait_for,
)

pytestmark = pytest.mark.integration

GUEST, HOST, THIRD = 31, 32, 33
PROJECTS = [f"confs-{party}" for party in (GUEST, HOST, THIRD)]
STEP = 100
PROJECT = "composed"
SERVICES = ("fateflow", "rabbitmq", "nginx", "serving")
SERVICE = "composed_lr"


def _engine() -> str:
    return docker_engine()


def _docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_HOST": _engine()}
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=check, env=env)


class ComposeFacade(Facade):
    """The facade with the engine in the caller's environment, as an operator's shell has it."""

    def env(self) -> dict[str, str]:
        return {**super().env(), "DOCKER_HOST": _engine()}


@dataclass
class Deployment:
    facade: ComposeFacade
    ports: dict[str, int]
    data: dict
    # The tags make images recorded, by image.
    images: dict[str, str]
    # Seconds each step took (and the train AUC), written to stderr at the end.
    timings: dict[str, float] = field(default_factory=dict)
    job: dict = field(default_factory=dict)

    def flow(self, party: int) -> FateFlowClient:
        shift = (party - GUEST) * STEP
        return FateFlowClient(host="127.0.0.1", port=self.ports["fate_flow_http_port"] + shift, timeout=30)


def _project_resources(kind: str) -> list[str]:
    """This module's containers or volumes (theirs only: by the compose project label of its party ids)."""
    found: list[str] = []
    for project in PROJECTS:
        label = f"label=com.docker.compose.project={project}"
        if kind == "container":
            out = _docker("ps", "--all", "--quiet", "--filter", label).stdout
        else:
            out = _docker("volume", "ls", "--quiet", "--filter", label).stdout
        found += out.split()
    return found


def _remove_our_projects() -> None:
    """What an earlier run left: containers, volumes and the project directories (with their owner records)."""
    containers = _project_resources("container")
    if containers:
        _docker("rm", "--force", *containers)
    volumes = _project_resources("volume")
    if volumes:
        _docker("volume", "rm", *volumes)
    for project in PROJECTS:
        shutil.rmtree(COMPOSE_LANE.base_dir / project, ignore_errors=True)


def _started_at(container: str) -> str:
    return _docker("inspect", "--format", "{{.State.StartedAt}}", container).stdout.strip()


def _deploy(facade: Facade, *ids: int) -> Result:
    return facade("-f", "deploy", "-id", *map(str, ids), "-ip", *["127.0.0.1"] * len(ids), timeout=900)


@pytest.fixture(scope="module")
def deployed(fateops_images: dict, datasets, tmp_path_factory) -> Iterator[Deployment]:
    _remove_our_projects()
    facade = ComposeFacade(short_workspace(tmp_path_factory), COMPOSE_LANE.base_dir)
    facade.settings(
        fate_runtime="compose",
        # make images' record, where this run's make images wrote it (the cache of the suite); its default is
        # where make images keeps it on a machine of its own.
        fate_images_record=str(IMAGES_RECORD),
        fate_compose_pull="never",
        # The training is compared with the native runtime's with the same options (conftest.SHORT_TRAINING_AUC).
        fate_job_options={"hetero_lr": SHORT_TRAINING},
        **COMPOSE_LANE.ports,
    )
    deployment = Deployment(facade, COMPOSE_LANE.ports, datasets["breast"], fateops_images["fate_images_built"])
    started = time.monotonic()
    up = _deploy(facade, GUEST, HOST)
    deployment.timings["deploy_cold"] = time.monotonic() - started
    assert (up.rc, up.out) == (0, "deploy success.\n"), up.err[-4000:]
    yield deployment
    for name, seconds in deployment.timings.items():
        sys.stderr.write(f"compose e2e {name}: {seconds:.4f}\n")
    facade("-f", "delete", "-id", str(GUEST), str(HOST), str(THIRD), "-ip", *["127.0.0.1"] * 3)
    _remove_our_projects()


def test_an_image_that_is_neither_there_nor_archived_stops_the_first_play(tmp_path: Path) -> None:
    """Tags the engine lacks, no archive and pulls off: deploy stops in its first play with one line naming the
    host, the images and the fixes, before any host changes."""
    assert _docker("info", check=False).returncode == 0, f"no Docker engine answers at {_engine()}: run make docker"
    facade = ComposeFacade(tmp_path / "workspace", tmp_path / "parties")
    absent = {image: f"fateops/{image}:absent-000000000000" for image in SERVICES}
    facade.settings(fate_runtime="compose", fate_images_built=absent, fate_compose_pull="never", **COMPOSE_LANE.ports)
    containers = _project_resources("container")
    result = _deploy(facade, GUEST, HOST)
    assert (result.rc, result.out) == (1, "deploy failure.\n"), result.err[-3000:]
    errors = [line for line in result.err.splitlines() if line.startswith("fateops deploy: error:")]
    assert len(errors) == 1, result.err[-3000:]
    line = errors[0]
    assert "fateops/fateflow:absent-000000000000" in line and "missing on 127.0.0.1" in line, line
    assert "make images" in line and "fate_compose_image_archives" in line, line
    assert facade.state() == {}
    assert not (tmp_path / "parties").exists()
    assert _project_resources("container") == containers


def test_two_projects_run_our_images_and_a_redeploy_changes_nothing(deployed: Deployment) -> None:
    # The tags make images recorded (settings.yml names none).
    images = set(deployed.images.values())
    running = {}
    for party in (GUEST, HOST):
        for service in SERVICES:
            name = f"confs-{party}-{service}-1"
            state = json.loads(_docker("inspect", "--format", "{{json .}}", name).stdout)
            assert state["State"]["Status"] == "running", name
            assert state["State"]["Health"]["Status"] == "healthy", name
            assert state["HostConfig"]["RestartPolicy"]["Name"] == "always", name
            # Image references from fate_images_built, never a registry's.
            assert state["Config"]["Image"].startswith("fateops/"), name
            assert state["Config"]["Image"] in images, name
            running[name] = state["State"]["StartedAt"]
        # Each project's FATE-Flow answers on the plan's port (the host's 100 higher).
        assert deployed.flow(party).server_info()
    volumes = {v for v in _project_resources("volume")}
    for party in (GUEST, HOST):
        for volume in ("fate_flow_data", "fate_flow_db", "fate_flow_model", "fate_flow_logs", "rabbitmq_data"):
            assert f"confs-{party}_{volume}" in volumes

    started = time.monotonic()
    again = _deploy(deployed.facade, GUEST, HOST)
    deployed.timings["deploy_warm"] = time.monotonic() - started
    assert (again.rc, again.out) == (0, "deploy success.\n"), again.err[-4000:]
    assert "fateops deploy: no change on 1 host(s)" in again.err, again.err[-2000:]
    assert {name: _started_at(name) for name in running} == running


def test_upload_train_bind_and_predict_as_natively(deployed: Deployment) -> None:
    data = deployed.data
    loaded = deployed.facade(
        "-f", "upload", "-gp", str(GUEST), str(data["guest"]), "-hp", str(HOST), str(data["hosts"][0]),
        "-proj", PROJECT,
    )  # fmt: skip
    assert (loaded.rc, loaded.out) == (0, "upload success.\n"), loaded.err[-3000:]
    assert deployed.flow(GUEST).query_table(PROJECT, f"guest_{GUEST}")
    assert deployed.flow(HOST).query_table(PROJECT, f"host_{HOST}")

    started = time.monotonic()
    job = submit(deployed.facade, "hetero_lr", PROJECT)
    # arbiter (the host), guest, host
    assert wait_for(deployed.facade, job["jobid"], 3) == ["success"] * 3
    deployed.timings["hetero_lr"] = time.monotonic() - started
    auc = metric(deployed.flow(GUEST), job["jobid"], GUEST, "auc")
    assert abs(auc - SHORT_TRAINING_AUC) <= 0.01, auc
    deployed.timings["train_auc"] = auc
    deployed.job = job

    bound = deployed.facade(
        "-f", "load_bind", "-mid", job["model_id"], "-mver", job["model_version"], "-mname", SERVICE
    )
    assert (bound.rc, bound.out) == (0, "load_bind success.\n"), bound.err[-3000:]
    # FATE's own scores of the training rows (the guest's lr_0 output); the served probability must equal them.
    display = deployed.flow(GUEST).output_data_display(job["jobid"], "guest", GUEST, "lr_0")
    rows = next(iter(display.values()))[0]["data"]
    scores = {int(row[1]): float(row[3]) for row in rows}
    shown = sorted(scores)
    for row_id in (shown[0], shown[len(shown) // 2], shown[-1]):
        rc, answer = predict(deployed.facade, SERVICE, f"id={row_id}", *guest_row(data["guest"], row_id))
        assert rc == 0 and answer["retcode"] == 0 and answer["retmsg"] == "success", answer
        assert abs(answer["prob"] - scores[row_id]) < 1e-6, (row_id, answer, scores[row_id])
    deployed.job["scores"] = {row_id: scores[row_id] for row_id in (shown[0], shown[-1])}


def _routes(party: int) -> str:
    return (COMPOSE_LANE.base_dir / f"confs-{party}" / "confs" / "nginx" / "routes.conf").read_text()


def test_a_third_party_joins_and_leaves_in_place(deployed: Deployment) -> None:
    flows = [f"confs-{party}-fateflow-1" for party in (GUEST, HOST)]
    before = {name: _started_at(name) for name in flows}
    joined = _deploy(deployed.facade, GUEST, HOST, THIRD)
    assert (joined.rc, joined.out) == (0, "deploy success.\n"), joined.err[-4000:]
    assert deployed.flow(THIRD).server_info()
    third_http = deployed.ports["fate_flow_http_port"] + 2 * STEP
    for party in (GUEST, HOST):
        assert f"    {THIRD} 127.0.0.1:{third_http};" in _routes(party)
    # The others' FATE-Flow kept running: their containers were not restarted.
    assert {name: _started_at(name) for name in flows} == before

    left = deployed.facade("-f", "delete", "-id", str(THIRD), "-ip", "127.0.0.1")
    assert (left.rc, left.out) == (0, "delete success.\n"), left.err[-4000:]
    assert _docker("ps", "--quiet", "--filter", f"label=com.docker.compose.project=confs-{THIRD}").stdout == ""
    for party in (GUEST, HOST):
        assert f"    {THIRD} " not in _routes(party)
    assert {name: _started_at(name) for name in flows} == before


def _predicts_as_trained(deployed: Deployment) -> bool:
    """The served probabilities of the rows the training test kept equal FATE's scores (False while not serving)."""
    for row_id, score in deployed.job["scores"].items():
        rc, answer = predict(deployed.facade, SERVICE, f"id={row_id}", *guest_row(deployed.data["guest"], row_id))
        if rc != 0 or answer.get("retcode") != 0:
            return False
        assert abs(answer["prob"] - score) < 1e-6, (row_id, answer, score)
    return True


def _flows_answer(deployed: Deployment) -> bool:
    try:
        return all(deployed.flow(party).server_info() for party in (GUEST, HOST))
    except (OSError, FateFlowError):
        return False  # still starting


def _wait_until_back(before: dict[str, str], ready: Callable[[], bool], timeout: float = 240) -> None:
    """Every container of before runs again, started since (its StartedAt moved), and ready() holds."""
    deadline = time.monotonic() + timeout
    while True:
        states = {name: json.loads(_docker("inspect", "--format", "{{json .State}}", name).stdout) for name in before}
        back = all(state["Running"] and state["StartedAt"] != before[name] for name, state in states.items())
        if back and ready():
            return
        assert time.monotonic() < deadline, f"not back within {timeout} s: {states}"
        time.sleep(2)


def _kill_main_process(container: str) -> None:
    """The container's main process dies (SIGKILL, as the kernel's OOM killer would): the children of its PID 1
    (tini). The container ends and its restart policy starts it again; `docker kill` would count as stopping it by
    hand, which no policy undoes."""
    _docker("exec", container, "sh", "-c", "kill -KILL $(cat /proc/1/task/1/children)")


def test_a_killed_fateflow_container_comes_back(deployed: Deployment) -> None:
    name = f"confs-{HOST}-fateflow-1"
    before = {name: _started_at(name)}
    _kill_main_process(name)
    _wait_until_back(before, lambda: _flows_answer(deployed))


def test_a_killed_serving_container_comes_back_with_its_bindings(deployed: Deployment) -> None:
    assert deployed.job, "the training test did not train"
    name = f"confs-{GUEST}-serving-1"
    before = {name: _started_at(name)}
    _kill_main_process(name)
    _wait_until_back(before, lambda: _predicts_as_trained(deployed))


def test_a_restarted_engine_brings_the_parties_back(deployed: Deployment) -> None:
    """The engine stops (its containers with it) and starts again: the restart policy starts every service of
    both projects, FATE-Flow answers and the bindings serve as before, with no deploy in between."""
    assert deployed.job, "the training test did not train"
    # Only an engine of make docker's can be restarted from here (tools/docker-engine, its pid file).
    current = _engine()
    assert current == MAKE_DOCKER_ENGINE, f"DOCKER_HOST={current}: this test restarts make docker's engine; unset it"
    names = [f"confs-{party}-{service}-1" for party in (GUEST, HOST) for service in SERVICES]
    before = {name: _started_at(name) for name in names}
    engine = [str(REPO / "tools" / "docker-engine"), "{}", str(TEST_CACHE / "docker")]
    env = {**os.environ, "DOCKER_HOST": MAKE_DOCKER_ENGINE}
    for action in ("stop", "start"):
        argv = [action if word == "{}" else word for word in engine]
        run = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, check=False)
        assert run.returncode == 0, run.stderr
    started = time.monotonic()
    _wait_until_back(before, lambda: _flows_answer(deployed) and _predicts_as_trained(deployed))
    deployed.timings["engine_restart_back"] = time.monotonic() - started


def test_delete_keeps_the_volumes_and_a_redeploy_finds_tables_and_bindings(deployed: Deployment) -> None:
    assert deployed.job, "the training test did not train"
    volumes = set(_project_resources("volume"))
    gone = deployed.facade("-f", "delete", "-id", str(GUEST), str(HOST), "-ip", "127.0.0.1", "127.0.0.1")
    assert (gone.rc, gone.out) == (0, "delete success.\n"), gone.err[-4000:]
    assert _project_resources("container") == []
    assert set(_project_resources("volume")) == volumes

    up = _deploy(deployed.facade, GUEST, HOST)
    assert (up.rc, up.out) == (0, "deploy success.\n"), up.err[-4000:]
    assert deployed.flow(GUEST).query_table(PROJECT, f"guest_{GUEST}")
    assert deployed.flow(HOST).query_table(PROJECT, f"host_{HOST}")
    # The bindings live in the serving volumes too: the service answers as before.
    assert _predicts_as_trained(deployed)
