"""Integration set-up: the facade run as a user runs it, against real FATE on this host."""

from __future__ import annotations

import ast
import dataclasses
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_v2 import FateFlowClient
from ansible_collections.fateops.federation.plugins.module_utils.model_migration import (
    ArchiveIdentity,
    archive_name,
    parse_migrate_config,
    rewrite_archive,
)

from fateops.training import query
from fateops.workspace import Workspace
from tests.harness.container_hosts import ContainerHarness, ContainerHarnessConfig
from tests.harness.container_hosts import down as container_down
from tests.harness.container_hosts import up as container_up
from tests.harness.fixtures import hosts_while_used

REPO = Path(__file__).resolve().parents[2]
# Shared by every integration test and molecule, and kept outside the clone so that the FATE runtime (keyed by
# the hash of its pins) is built once per machine, not once per checkout.
TEST_CACHE = Path(os.environ.get("FATEOPS_TEST_CACHE", "/var/cache/fateops-test"))
TEST_BASE_DIR = TEST_CACHE / "test-parties"
JOB_TIMEOUT = 900


@dataclass(frozen=True)
class Lane:
    """Test modules that deploy on one base dir and one set of ports, and so must run one after the other; modules
    of different lanes run side by side (`pytest -n N --dist loadgroup`: one lane to a worker, its modules in file
    order). Every lane's base dir links the one FATE runtime of TEST_BASE_DIR."""

    name: str
    modules: tuple[str, ...]
    base_dir: Path = TEST_BASE_DIR
    # Settings for the facade's settings.yml; empty: FATE's default ports.
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def http_port(self) -> int:
        return self.ports.get("fate_flow_http_port", 9380)

    @property
    def serving_port(self) -> int:
        return self.ports.get("fate_serving_port", 8059)


def _ports(http: int, grpc: int, serving: int) -> dict[str, int]:
    return {"fate_flow_http_port": http, "fate_flow_grpc_port": grpc, "fate_serving_port": serving}


# The lanes, longest first (the compose lane's first test builds the images on a new machine): a worker starts on
# the first lane nobody has taken yet.
# The netns test hosts: the harness's own checks and the example inventories, deployed on this machine's base dir.
NETNS_LANE = Lane("netns", ("test_harness_bootstrap.py", "test_inventories.py"))
TRAIN_LANE = Lane("train", ("test_train_serve.py",), TEST_BASE_DIR / "lanes" / "train", _ports(9780, 9760, 8159))
# One trained model shared by its modules (the models_lane_model fixture).
MODELS_LANE = Lane(
    "models",
    ("test_job_options.py", "test_serving_remote.py", "test_migrate.py"),
    TEST_BASE_DIR / "lanes" / "models",
    _ports(9580, 9560, 8259),
)
# FATE's default ports, which the user's path (default settings, /data/projects/fate) holds too.
DEFAULT_LANE = Lane("default", ("test_deploy.py", "test_ownership.py", "test_user_path.py", "test_compose_facade.py"))
STORE_LANE = Lane(
    "store",
    ("test_model_store.py", "test_template_payloads.py"),
    TEST_BASE_DIR / "lanes" / "store",
    _ports(9680, 9660, 8359),
)
# Everything that runs containers on the Docker engine, one after the other (the end-to-end test restarts the
# engine): the images are built (and run) first, then compose parties (the fateops images) on the host's network
# with ports of their own, broker and nginx included (the second party's are 100 higher, fate_compose_port_step),
# then the bare container hosts: their own checks, and parties on separate machines (test_multihost.py).
COMPOSE_LANE = Lane(
    "compose",
    ("test_images.py", "test_compose_e2e.py", "test_container_hosts.py", "test_multihost.py",
     "test_molecule_compose.py"),
    TEST_BASE_DIR / "lanes" / "compose",
    {**_ports(9880, 9860, 8459), "fate_nginx_http_port": 9800, "fate_rabbitmq_port": 5872,
     "fate_rabbitmq_management_port": 15872, "fate_rabbitmq_dist_port": 25872},
)  # fmt: skip
# The molecule scenarios of the native runtime (molecule/default on ports of its own, molecule/multiparty on netns
# hosts of its own); molecule/compose is the compose lane's.
MOLECULE_LANE = Lane("molecule", ("test_molecule.py",))
LANES = (COMPOSE_LANE, NETNS_LANE, TRAIN_LANE, DEFAULT_LANE, MODELS_LANE, STORE_LANE, MOLECULE_LANE)
_LANE_OF_MODULE = {module: lane for lane in LANES for module in lane.modules}


def lane_of(nodeid: str) -> Lane | None:
    return _LANE_OF_MODULE.get(Path(nodeid.split("::", 1)[0]).name)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Lanes in LANES' order, each lane's modules together in the lane's order (a stable sort: the tests of a
    module keep theirs), whatever order the modules were named in."""

    def rank(item: pytest.Item) -> tuple[int, int]:
        lane = lane_of(item.nodeid)
        if lane is None:
            return (len(LANES), 0)
        return (LANES.index(lane), lane.modules.index(Path(item.nodeid.split("::", 1)[0]).name))

    items.sort(key=rank)


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """`--dist loadgroup` with the lanes as groups. pytest-xdist's own grouping (xdist_group marks) renames node
    ids, which pytest 9 no longer lets a plugin do; a lane is named by the module's file instead."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class LaneScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            lane = lane_of(nodeid)
            return f"lane {lane.name}" if lane else super()._split_scope(nodeid)

    # Keep LANES' order (longest first) rather than xdist's order by number of tests.
    config.option.loadscopereorder = False
    return LaneScheduling(config, log)


_LANE_TIMES: dict[str, tuple[float, float, float]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Each lane's first start, last stop and summed test time (setup, call and teardown), for the summary."""
    lane = lane_of(report.nodeid)
    name = lane.name if lane else "other"
    start, stop, busy = _LANE_TIMES.get(name, (report.start, report.stop, 0.0))
    _LANE_TIMES[name] = (min(start, report.start), max(stop, report.stop), busy + report.duration)


def pytest_terminal_summary(terminalreporter) -> None:
    """Where the integration suite's time goes, lane by lane: a lane runs on one worker, so its span bounds the
    suite from below."""
    if not _LANE_TIMES:
        return
    terminalreporter.section("lanes")
    origin = min(start for start, _, _ in _LANE_TIMES.values())
    for name, (start, stop, busy) in sorted(_LANE_TIMES.items(), key=lambda item: item[1][0]):
        terminalreporter.write_line(
            f"{name:10} from {start - origin:6.0f} s to {stop - origin:6.0f} s: span {stop - start:6.0f} s,"
            f" in tests {busy:6.0f} s"
        )


# Train AUC of hetero LR on the example breast data with one standalone FATE-Flow (guest, host and arbiter id 1),
# as measured when the single-host path was built; every training test, single- or multi-host, must stay within
# 0.01 of it.
SINGLE_HOST_AUC = 0.9923
# Algorithm options for the trainings whose tests check what FATE and the facade did with a job or its model, not
# how far it converged: 3 epochs instead of the facade's default 10 (FATE's example), about 35 s less per job. On
# the example data hetero LinR still reaches an R2 of 0.49 with them, and hetero LR the train AUC below, the same
# for guest and host on one FATE-Flow and for guest and two hosts (breast2): the trainings on several hosts with
# these options must stay within 0.01 of it, as those with the defaults must of SINGLE_HOST_AUC.
SHORT_TRAINING = {"epochs": 3}
SHORT_TRAINING_AUC = 0.9870


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

    def current_settings(self) -> dict:
        path = self.home / "settings.yml"
        return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}

    def state(self) -> dict:
        path = self.home / "state.json"
        return json.loads(path.read_text()) if path.exists() else {}


class HostFacade(Facade):
    """The facade as an operator runs it against hosts that are not this machine: only the workspace is the
    test's; the base dir is the default (/data/projects/fate) or settings.yml's."""

    # Variables of the caller's environment the facade documents (FATEOPS_EXCHANGE_PASSWORD, say).
    extra_env: dict[str, str] = {}  # noqa: RUF012  (replaced, never changed in place)

    def env(self) -> dict[str, str]:
        env = super().env()
        del env["FATEOPS_BASE_DIR"]
        return {**env, **self.extra_env}


def _build_runtime(inventory: Path) -> None:
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "vars": {"fate_base_dir": str(TEST_BASE_DIR)},
                    "children": {
                        "fate_parties": {
                            "hosts": {
                                "localhost": {
                                    "ansible_connection": "local",
                                    "ansible_python_interpreter": sys.executable,
                                }
                            }
                        }
                    },
                }
            }
        )
    )
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    playbook = Path(sys.executable).parent / "ansible-playbook"
    run = subprocess.run(
        [str(playbook), "-i", str(inventory), str(REPO / "playbooks" / "runtime.yml")],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:]


@pytest.fixture(scope="session")
def fate_runtime(tmp_path_factory) -> None:
    """The FATE runtime under TEST_BASE_DIR, built once (reused while its pins do not change) before any lane
    deploys, and linked from every lane's base dir. Built from the root namespace: the netns test hosts reach no
    package index. pytest-xdist workers start together; a lock keeps them from building it twice at once."""
    TEST_CACHE.mkdir(parents=True, exist_ok=True)
    with (TEST_CACHE / ".runtime.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _build_runtime(tmp_path_factory.mktemp("runtime") / "hosts.yml")
        for lane in LANES:
            link = lane.base_dir / ".runtime"
            if lane.base_dir != TEST_BASE_DIR and not link.is_symlink():
                lane.base_dir.mkdir(parents=True, exist_ok=True)
                link.symlink_to(TEST_BASE_DIR / ".runtime")


# Test modules that run no native party: the Docker lane's and the compose ones. They do not wait for the FATE
# runtime, so on a new machine the images build while the runtime does.
WITHOUT_NATIVE_PARTIES = {
    "test_images.py",
    "test_compose_e2e.py",
    "test_container_hosts.py",
    "test_multihost.py",
    "test_molecule_compose.py",
    "test_compose_role.py",
    "test_compose_facade.py",
}


@pytest.fixture(scope="module", autouse=True)
def native_runtime(request: pytest.FixtureRequest) -> None:
    """fate_runtime for every module that runs native parties, before its own module fixtures deploy any (an
    autouse fixture comes first within its scope; a session fixture that deploys asks for fate_runtime itself)."""
    if request.path.name not in WITHOUT_NATIVE_PARTIES:
        request.getfixturevalue("fate_runtime")


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


def short_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new workspace directory on a short path: ssh's control sockets live in the workspace, a Unix socket's path
    has at most 108 bytes, and pytest-xdist puts each worker's temporary directories one level deeper."""
    return tmp_path_factory.mktemp("ws") / "workspace"


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A new empty directory on a short path, for a base dir: supervisord's socket lies under it and may have at most
    107 bytes, which pytest's own temporary directories (deeper still under pytest-xdist) leave too few of."""
    path = Path(tempfile.mkdtemp(prefix="fo-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def facade(tmp_path_factory: pytest.TempPathFactory) -> Facade:
    return Facade(short_workspace(tmp_path_factory))


def fate_flow_info(port: int = 9380, host: str = "127.0.0.1") -> dict:
    with urllib.request.urlopen(f"http://{host}:{port}/v2/server/fateflow", timeout=5) as response:
        return json.load(response)


def listening(port: int) -> bool:
    out = subprocess.run(["ss", "-Htln", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
    return bool(out.strip())


# The socket of make docker's engine (tools/docker-engine under the test cache).
MAKE_DOCKER_ENGINE = f"unix://{TEST_CACHE / 'docker' / 'docker.sock'}"


def docker_engine() -> str:
    """The Docker engine the tests use: the caller's DOCKER_HOST, else make docker's."""
    return os.environ.get("DOCKER_HOST") or MAKE_DOCKER_ENGINE


def container_hosts(config: ContainerHarnessConfig) -> Iterator[ContainerHarness]:
    """Bare container test hosts of config on the tests' engine, images from the tests' cache; removed after."""
    config = dataclasses.replace(config, cache_dir=TEST_CACHE / "images", docker_host=docker_engine())
    yield from hosts_while_used(container_up, container_down, config, "container test hosts")


# The images' cache outside the clone, beside the engine's data root (make images uses the same one), and the
# record playbooks/images.yml writes there: the tags it built and their docker save archives.
IMAGES_CACHE = TEST_CACHE / "images"
IMAGES_RECORD = IMAGES_CACHE / "archives" / "fate-images.yml"
IMAGES_COLD_TIMEOUT = 2400


def images_playbook(*extra: str, timeout: float = IMAGES_COLD_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """playbooks/images.yml as make images runs it, on the engine of docker_engine()."""
    env = {
        **os.environ,
        "DOCKER_HOST": docker_engine(),
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(REPO / "collections"),
        "ANSIBLE_NOCOLOR": "1",
    }
    argv = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        str(REPO / "playbooks" / "images.yml"),
        "-e",
        f"fate_images_cache_dir={IMAGES_CACHE}",
        *extra,
    ]
    return subprocess.run(argv, capture_output=True, text=True, cwd=REPO, env=env, timeout=timeout, check=False)


@pytest.fixture(scope="session")
def fateops_images() -> dict:
    """The fateops images through the project's own path, once per session (nothing built on a warm cache): the
    record images.yml wrote."""
    docker = subprocess.run(["docker", "info"], capture_output=True, env={**os.environ, "DOCKER_HOST": docker_engine()})
    assert docker.returncode == 0, f"no Docker engine answers at {docker_engine()}: run make docker"
    run = images_playbook()
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    return yaml.safe_load(IMAGES_RECORD.read_text())


def files_containing(root: Path, secret: str) -> list[Path]:
    """The files under root whose bytes hold secret (a password, a token)."""
    return [p for p in root.rglob("*") if p.is_file() and not p.is_socket() and secret.encode() in p.read_bytes()]


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


def _job_ended(lines: list[str]) -> bool:
    return all(line == "success" for line in lines) or any(line in ("failed", "canceled") for line in lines)


def wait_for(facade: Facade, job_id: str, roles: int) -> list[str]:
    """Each role's status of the job once it ended, as `script.py -f query` prints them. The facade's query runs at
    the start and at the end; in between, its query function polls in-process (the same code and FATE-Flow calls,
    without a Python start every few seconds)."""

    def facade_query() -> list[str]:
        result = facade("-f", "query", "-jid", job_id)
        assert result.rc == 0, result.err
        lines = result.out.splitlines()
        assert len(lines) == roles, result.out
        return lines

    lines = facade_query()
    deadline = time.monotonic() + JOB_TIMEOUT
    workspace = Workspace(facade.home)
    while not _job_ended(lines):
        assert time.monotonic() < deadline, f"job {job_id} still {lines}"
        time.sleep(2)
        lines = query(workspace, job_id).splitlines()
        assert len(lines) == roles, lines
    return facade_query()


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


def deploy_parties(facade: Facade, ids: dict[str, int]) -> None:
    """A guest and a host on this host (one standalone FATE-Flow)."""
    up = facade("-f", "deploy", "-id", str(ids["guest"]), str(ids["host"]), "-ip", "127.0.0.1", "127.0.0.1")
    assert (up.rc, up.out) == (0, "deploy success.\n"), up.err


def upload_parties(facade: Facade, data: dict, ids: dict[str, int], project: str) -> None:
    loaded = facade(
        "-f", "upload", "-gp", str(ids["guest"]), str(data["guest"]), "-hp", str(ids["host"]), str(data["hosts"][0]),
        "-proj", project,
    )  # fmt: skip
    assert (loaded.rc, loaded.out) == (0, "upload success.\n"), loaded.err


def served_probability(facade: Facade, service: str, data: dict, row_id: int) -> float:
    result = facade("-f", "predict", "-mname", service, "-params", f"id={row_id}", *guest_row(data["guest"], row_id))
    answer = json.loads(result.out)
    assert result.rc == 0 and answer["retcode"] == 0, (result.out, result.err)
    return float(answer["prob"])


def submit_with_options(facade: Facade, ports: dict[str, int], job_conf: dict, project: str) -> str:
    """submit hetero_lr with fate_job_options in settings.yml (SHORT_TRAINING and job_conf) and query until every
    role succeeded: the job id."""
    facade.settings(**ports, fate_job_options={"hetero_lr": {**SHORT_TRAINING, "job_conf": job_conf}})
    submitted = facade("-f", "submit", "-alg", "hetero_lr", "-proj", project, "-m", "1")
    assert submitted.rc == 0, submitted.out + submitted.err
    job_id = json.loads(submitted.out)["jobid"]
    deadline = time.monotonic() + JOB_TIMEOUT
    while True:
        lines = facade("-f", "query", "-jid", job_id).out.split()
        if lines == ["success"] * 3:
            return job_id
        assert not {"failed", "canceled", "timeout"} & set(lines) and time.monotonic() < deadline, lines
        time.sleep(3)


def delete_deployed(facade: Facade) -> None:
    ids = [str(p["party_id"]) for p in facade.state().get("deployment", {}).get("parties", [])]
    if ids:
        facade("-f", "delete", "-id", *ids, "-ip", *["127.0.0.1"] * len(ids))


# The models lane's one training (models_lane_model): guest 9999 and host 10000 (arbiter 10000) on this host,
# trained with these FATE job options (test_job_options checks that FATE ran the job with them), then served.
MODELS_LANE_PARTIES = {"guest": 9999, "host": 10000}
MODELS_LANE_PROJECT = "options"
MODELS_LANE_JOB_CONF = {
    "priority": 3,
    "auto_retries": 1,
    "cores": 4,
    "computing_partitions": 4,
    "scheduler_party_id": "9999",
    "task": {"timeout": 1800, "provider": "fate:2.2.0@local", "engine_run": {"cores": 2}},
}
MODELS_LANE_SERVICE = "before"
MODELS_LANE_ROWS = (3, 150, 400)


@dataclass
class TrainedModel:
    facade: Facade
    data: dict
    # submit's answer: model_id, model_version, jobid
    job: dict
    # MODELS_LANE_SERVICE's probabilities of MODELS_LANE_ROWS
    probs: dict[int, float]


@pytest.fixture(scope="session")
def models_lane_model(tmp_path_factory, fate_runtime: None) -> Iterator[TrainedModel]:
    """One hetero LR model on the models lane, trained once for its modules: test_job_options reads the job and
    its outputs back, test_serving_remote cuts its host off, then test_migrate migrates the model (and deletes
    these parties: it runs last, see LANES)."""
    sys.path.insert(0, str(REPO / "examples"))
    import data as example_data

    facade = Facade(tmp_path_factory.mktemp("models-lane") / "workspace", MODELS_LANE.base_dir)
    data = example_data.write("breast", tmp_path_factory.mktemp("data") / "breast")
    facade.settings(**MODELS_LANE.ports)
    deploy_parties(facade, MODELS_LANE_PARTIES)
    upload_parties(facade, data, MODELS_LANE_PARTIES, MODELS_LANE_PROJECT)
    job_id = submit_with_options(facade, MODELS_LANE.ports, MODELS_LANE_JOB_CONF, MODELS_LANE_PROJECT)
    facade.settings(**MODELS_LANE.ports)
    # The facade's model id is FATE's job id, its version FATE's "0" (conftest.submit checks that contract).
    job = {"model_id": job_id, "model_version": "0", "jobid": job_id}
    bound = facade("-f", "load_bind", "-mid", job_id, "-mver", "0", "-mname", MODELS_LANE_SERVICE)
    assert (bound.rc, bound.out) == (0, "load_bind success.\n"), bound.err
    probs = {row_id: served_probability(facade, MODELS_LANE_SERVICE, data, row_id) for row_id in MODELS_LANE_ROWS}
    yield TrainedModel(facade, data, job, probs)
    delete_deployed(facade)


def predict(facade: Facade, service: str, *params: str) -> tuple[int, dict]:
    result = facade("-f", "predict", "-mname", service, "-params", *params, timeout=60)
    return result.rc, json.loads(result.out)


def supervisorctl(base_dir: Path, *args: str) -> str:
    """supervisorctl of the single-host instance (base_dir/standalone)."""
    instance = base_dir / "standalone"
    python, conf = str(instance / "venv/bin/python"), str(instance / "supervisord.conf")
    command = [python, "-m", "supervisor.supervisorctl", "-c", conf]
    return subprocess.run([*command, *args], capture_output=True, text=True, check=True).stdout


def restart_serving(base_dir: Path, port: int) -> None:
    """Restart the single-host instance's serving service and wait until it answers on port."""
    supervisorctl(base_dir, "restart", "serving")
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return
        except OSError:
            assert time.monotonic() < deadline, "the serving service did not come back"
            time.sleep(0.5)


def guest_row(path: Path, row_id: int) -> list[str]:
    for line in path.read_text().splitlines()[1:]:
        fields = line.split(",")
        if int(fields[0]) == row_id:
            return fields[2:]
    raise AssertionError(f"no row {row_id} in {path}")


def train_and_serve(
    facade: Facade,
    flow: FateFlowClient,
    data: dict,
    guest: int,
    hosts: list[int],
    name: str,
    short: bool = False,
    on_host: Callable[[Path], str] = str,
) -> dict:
    """upload, submit hetero_lr, query until success, load_bind and predict, all across the network. Trained with
    the default options, or SHORT_TRAINING's (short): the train AUC is the one hetero LR gets on one host with them.
    on_host: where each local file of data lies on its party's host (the same path by default)."""
    host_args = [
        arg for party_id, path in zip(hosts, data["hosts"], strict=True) for arg in (str(party_id), on_host(path))
    ]
    loaded = facade("-f", "upload", "-gp", str(guest), on_host(data["guest"]), "-hp", *host_args, "-proj", name)
    assert (loaded.rc, loaded.out) == (0, "upload success.\n"), loaded.err
    settings = facade.current_settings()
    if short:
        facade.settings(**settings, fate_job_options={"hetero_lr": SHORT_TRAINING})
    job = submit(facade, "hetero_lr", name)
    facade.settings(**settings)
    assert wait_for(facade, job["jobid"], 2 + len(hosts)) == ["success"] * (2 + len(hosts))
    reference = SHORT_TRAINING_AUC if short else SINGLE_HOST_AUC
    assert abs(metric(flow, job["jobid"], guest, "auc") - reference) <= 0.01

    bound = facade("-f", "load_bind", "-mid", job["model_id"], "-mver", job["model_version"], "-mname", name)
    assert (bound.rc, bound.out) == (0, "load_bind success.\n"), bound.err
    # The guest's displayed training scores are FATE's own; the served probability must equal them.
    display = flow.output_data_display(job["jobid"], "guest", guest, "lr_0")
    rows = next(iter(display.values()))[0]["data"]
    row_id, score = int(rows[0][1]), float(rows[0][3])
    rc, answer = predict(facade, name, f"id={row_id}", *guest_row(data["guest"], row_id))
    assert rc == 0 and answer["retcode"] == 0, answer
    assert abs(answer["prob"] - score) < 1e-6, (answer, score)
    return job


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
