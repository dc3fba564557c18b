"""Parties on separate hosts, reached over real ssh: each a network namespace with its own sshd and address.

Each party gets its own FATE-Flow, RabbitMQ broker and nginx; FATE federates across the bridge. One workspace
per topology, as a regulator would use it: a mesh that starts with guest 9999 and host 10000, trains, serves,
grows by host 10001 in place, trains guest + two hosts, survives faults and shrinks again; then a star whose
every call between parties passes an exchange host.

The hosts share this machine's filesystem but have no route to a package index, so the FATE runtime is built
once from the root namespace (playbooks/runtime.yml) and every party links it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_v2 import FateFlowClient

from fateops import ROOT
from fateops.ssh_keys import ensure_key_pair
from fateops.workspace import Workspace
from tests.harness.fixtures import netns_harness  # noqa: F401  (a session fixture, shared with other modules)
from tests.harness.netns_hosts import Harness, TestHost

from .conftest import (
    SINGLE_HOST_AUC,
    TEST_BASE_DIR,
    Facade,
    guest_row,
    metric,
    predict,
    processes_under,
    submit,
    wait_for,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fate_runtime(tmp_path_factory) -> None:
    """The FATE runtime under the test base dir, built from this namespace (the test hosts reach no index)."""
    inventory = tmp_path_factory.mktemp("runtime") / "hosts.yml"
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
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    playbook = Path(sys.executable).parent / "ansible-playbook"
    run = subprocess.run(
        [str(playbook), "-i", str(inventory), str(ROOT / "playbooks" / "runtime.yml")],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:]


@pytest.fixture(scope="module")
def hosts(netns_harness: Harness) -> list[TestHost]:  # noqa: F811
    return netns_harness.hosts


def trusting_facade(home: Path, harness: Harness) -> Facade:
    """A workspace whose ssh key root on every test host accepts already (root has no password we may set)."""
    facade = Facade(home)
    key = ensure_key_pair(Workspace(home))
    for host in harness.hosts:
        harness.authorize_root_key(host, key.public.line)
    return facade


def delete_everything(facade: Facade) -> None:
    parties = facade.state().get("deployment", {}).get("parties", [])
    if parties:
        facade("-f", "delete", "-id", *[str(p["party_id"]) for p in parties], "-ip", *[p["ip"] for p in parties])


def flow_client(host: TestHost, port: int = 9380) -> FateFlowClient:
    return FateFlowClient(host=host.ip, port=port, timeout=30)


def flow_pid(party_id: int) -> int:
    return _pid_of(f"{TEST_BASE_DIR}/party-{party_id}/venv/bin/python -m fate_flow.fate_flow_server")


def _pid_of(marker: str) -> int:
    out = subprocess.run(["pgrep", "-f", "-o", marker], capture_output=True, text=True, check=False).stdout
    assert out.strip(), f"no process {marker}"
    return int(out.split()[0])


def link(harness: Harness, host: TestHost, state: str) -> None:
    index = harness.hosts.index(host) + 1
    subprocess.run(["ip", "link", "set", harness.config.veth_name(index), state], check=True)


def route_table(party_id: int) -> dict:
    return yaml.safe_load(
        (TEST_BASE_DIR / f"party-{party_id}" / "home" / "conf" / "rabbitmq_route_table.yaml").read_text()
    )


def nginx_routes(party_id: int) -> str:
    return (TEST_BASE_DIR / f"party-{party_id}" / "nginx" / "routes.conf").read_text()


def train_and_serve(facade: Facade, flow: FateFlowClient, data: dict, guest: int, hosts: list[int], name: str) -> None:
    """upload, submit hetero_lr, query until success, load_bind and predict, all across the network."""
    host_args = [arg for party_id, path in zip(hosts, data["hosts"], strict=True) for arg in (str(party_id), str(path))]
    loaded = facade("-f", "upload", "-gp", str(guest), str(data["guest"]), "-hp", *host_args, "-proj", name)
    assert (loaded.rc, loaded.out) == (0, "upload success.\n"), loaded.err
    job = submit(facade, "hetero_lr", name)
    assert wait_for(facade, job["jobid"], 2 + len(hosts)) == ["success"] * (2 + len(hosts))
    assert abs(metric(flow, job["jobid"], guest, "auc") - SINGLE_HOST_AUC) <= 0.01

    bound = facade("-f", "load_bind", "-mid", job["model_id"], "-mver", job["model_version"], "-mname", name)
    assert (bound.rc, bound.out) == (0, "load_bind success.\n"), bound.err
    # The guest's displayed training scores are FATE's own; the served probability must equal them.
    display = flow.output_data_display(job["jobid"], "guest", guest, "lr_0")
    rows = next(iter(display.values()))[0]["data"]
    row_id, score = int(rows[0][1]), float(rows[0][3])
    rc, answer = predict(facade, name, f"id={row_id}", *guest_row(data["guest"], row_id))
    assert rc == 0 and answer["retcode"] == 0, answer
    assert abs(answer["prob"] - score) < 1e-6, (answer, score)


# ------------------------------------------------------------------------------------------ password bootstrap


def test_password_login_installs_the_key_and_the_password_goes_nowhere(
    netns_harness: Harness,  # noqa: F811
    tmp_path: Path,
):
    # The dedicated test user logs in with its password once; it does not own the base dir, so the deploy
    # must then fail cleanly on that host, naming the problem, with nothing recorded.
    host = netns_harness.hosts[3]
    facade = Facade(tmp_path / "workspace")
    result = facade("-f", "deploy", "-id", "20000", "-ip", host.ip, "-u", host.user, "-pw", host.password)
    assert (result.rc, result.out) == (1, "deploy failure.\n")
    assert f"installed the workspace ssh key on {host.ip}" in result.err
    assert host.ip in result.err.splitlines()[-1] and "writable" in result.err.splitlines()[-1], result.err
    assert "deployment" not in facade.state() or not facade.state()["deployment"]["parties"]
    key = Workspace(facade.home)
    assert ensure_key_pair(key).public.line.split()[1] in (host.home_dir / ".ssh" / "authorized_keys").read_text()
    leaked = [p for p in facade.home.rglob("*") if p.is_file() and host.password.encode() in p.read_bytes()]
    assert leaked == []
    assert host.password not in result.err + result.out


# ------------------------------------------------------------------------------------------------------ mesh


@pytest.fixture(scope="module")
def mesh(netns_harness: Harness, fate_runtime, tmp_path_factory) -> Iterator[Facade]:  # noqa: F811
    facade = trusting_facade(tmp_path_factory.mktemp("mesh") / "workspace", netns_harness)
    yield facade
    delete_everything(facade)


def test_two_hosts_deploy(mesh: Facade, hosts: list[TestHost]):
    up = mesh("-f", "deploy", "-id", "9999", "10000", "-ip", hosts[0].ip, hosts[1].ip, "-u", "root")
    assert (up.rc, up.out) == (0, "deploy success.\n"), up.err
    for host, party_id in ((hosts[0], 9999), (hosts[1], 10000)):
        assert flow_client(host).server_info()  # answers on its own address
        assert str(route_table(party_id)[9999]["host"]) == hosts[0].ip
    assert f"10000 {hosts[1].ip}:9380;" in nginx_routes(9999)
    # The brokers' passwords are made on the party hosts; none reaches the workspace (state, runs, artifacts).
    for party_id in (9999, 10000):
        secret = (TEST_BASE_DIR / f"party-{party_id}" / "rabbitmq" / "fate.secret").read_text().strip()
        assert len(secret) >= 24
        assert [p for p in mesh.home.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()] == []
    again = mesh("-f", "deploy", "-id", "9999", "10000", "-ip", hosts[0].ip, hosts[1].ip)
    assert (again.rc, again.out) == (0, "deploy success.\n"), again.err
    assert "no change" in again.err


def test_two_hosts_train_and_serve(mesh: Facade, hosts: list[TestHost], datasets):
    train_and_serve(mesh, flow_client(hosts[0]), datasets["breast"], 9999, [10000], "mesh2")


def test_a_party_joins_in_place(mesh: Facade, hosts: list[TestHost]):
    before = {party_id: flow_pid(party_id) for party_id in (9999, 10000)}
    up = mesh("-f", "deploy", "-id", "10001", "-ip", hosts[2].ip)
    assert (up.rc, up.out) == (0, "deploy success.\n"), up.err
    # The survivors route to the new party and kept running: nginx reloads, FATE reads its tables per job.
    assert {party_id: flow_pid(party_id) for party_id in (9999, 10000)} == before
    for party_id in (9999, 10000):
        assert route_table(party_id)[10001] == {"host": hosts[2].ip, "port": 5672}
        assert f"10001 {hosts[2].ip}:9380;" in nginx_routes(party_id)
    # FATE-Flow's calls for 10001 leave 9999's nginx for 10001's FATE-Flow.
    request = urllib.request.Request(
        f"http://{hosts[0].ip}:9300/v2/server/fateflow", headers={"dest-party-id": "10001"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.load(response)["code"] == 0


def test_guest_and_two_hosts_train_and_serve(mesh: Facade, hosts: list[TestHost], datasets):
    train_and_serve(mesh, flow_client(hosts[0]), datasets["breast2"], 9999, [10000, 10001], "mesh3")


def test_supervisord_restarts_killed_services(mesh: Facade, hosts: list[TestHost]):
    old = flow_pid(9999)
    os.kill(old, signal.SIGKILL)
    serving = _pid_of(f"{TEST_BASE_DIR}/party-10000/venv/bin/python -m fateops_serving")
    os.kill(serving, signal.SIGKILL)
    deadline = time.monotonic() + 120
    while True:
        try:
            flow_client(hosts[0]).server_info()
            break
        except Exception:
            assert time.monotonic() < deadline, "FATE-Flow was not restarted"
            time.sleep(2)
    assert flow_pid(9999) != old
    assert _pid_of(f"{TEST_BASE_DIR}/party-10000/venv/bin/python -m fateops_serving") != serving


def test_predict_with_a_host_down_answers_a_remote_error(mesh: Facade, hosts: list[TestHost], netns_harness, datasets):  # noqa: F811
    row = guest_row(datasets["breast"]["guest"], 0)
    link(netns_harness, hosts[1], "down")
    try:
        started = time.monotonic()
        rc, answer = predict(mesh, "mesh2", "id=0", *row)
        elapsed = time.monotonic() - started
    finally:
        link(netns_harness, hosts[1], "up")
    assert rc != 0 and answer["retcode"] != 0 and answer["prob"] is None, answer
    assert elapsed < 15, elapsed
    # Back up: the same call succeeds again.
    deadline = time.monotonic() + 30
    while predict(mesh, "mesh2", "id=0", *row)[0] != 0:
        assert time.monotonic() < deadline
        time.sleep(1)


def test_host_down_during_deploy_fails_naming_it_and_a_rerun_converges(
    mesh: Facade,
    hosts: list[TestHost],
    netns_harness: Harness,  # noqa: F811
):
    state = mesh.state()
    ids, ips = ["9999", "10000", "10001"], [hosts[0].ip, hosts[1].ip, hosts[2].ip]
    link(netns_harness, hosts[2], "down")
    try:
        down = mesh("-f", "deploy", "-id", *ids, "-ip", *ips, timeout=120)
    finally:
        link(netns_harness, hosts[2], "up")
    assert (down.rc, down.out) == (1, "deploy failure.\n")
    assert f"host {hosts[2].ip} is unreachable" in down.err.splitlines()[-1], down.err
    assert mesh.state() == state
    up = mesh("-f", "deploy", "-id", *ids, "-ip", *ips)
    assert (up.rc, up.out) == (0, "deploy success.\n"), up.err


def test_a_party_leaves_and_its_routes_go(mesh: Facade, hosts: list[TestHost]):
    gone = mesh("-f", "delete", "-id", "10001", "-ip", hosts[2].ip)
    assert (gone.rc, gone.out) == (0, "delete success.\n"), gone.err
    for party_id in (9999, 10000):
        assert 10001 not in route_table(party_id)
        assert "10001 " not in nginx_routes(party_id)
    assert not (TEST_BASE_DIR / "party-10001").exists()
    assert [p["party_id"] for p in mesh.state()["deployment"]["parties"]] == [9999, 10000]


def test_delete_every_party(mesh: Facade, hosts: list[TestHost]):
    gone = mesh("-f", "delete", "-id", "9999", "10000", "-ip", hosts[0].ip, hosts[1].ip)
    assert (gone.rc, gone.out) == (0, "delete success.\n"), gone.err
    assert not (TEST_BASE_DIR / "party-9999").exists() and not (TEST_BASE_DIR / "party-10000").exists()
    assert processes_under(TEST_BASE_DIR / "party-9999") == []


# ------------------------------------------------------------------------------------------------------ star


@pytest.fixture(scope="module")
def star(netns_harness: Harness, fate_runtime, tmp_path_factory) -> Iterator[Facade]:  # noqa: F811
    facade = trusting_facade(tmp_path_factory.mktemp("star") / "workspace", netns_harness)
    facade.settings(fate_topology="star", fate_exchange_host=netns_harness.hosts[3].ip)
    yield facade
    delete_everything(facade)


def test_star_through_an_exchange(star: Facade, hosts: list[TestHost], datasets):
    up = star("-f", "deploy", "-id", "9999", "10000", "-ip", hosts[0].ip, hosts[1].ip)
    assert (up.rc, up.out) == (0, "deploy success.\n"), up.err
    exchange = hosts[3].ip
    # A party knows only itself and the exchange.
    assert route_table(9999)[10000]["host"] == exchange
    assert f"default {exchange}:9300;" in nginx_routes(9999)

    train_and_serve(star, flow_client(hosts[0]), datasets["breast"], 9999, [10000], "star")
    logs = TEST_BASE_DIR / "exchange" / "logs"
    http = (logs / "http.access.log").read_text()
    assert "/v2/partner/job/" in http  # FATE-Flow's scheduling calls
    assert "/federation/v1/partial" in http  # the guest's serving call for the host's partial score
    assert f"-> {hosts[1].ip}:5672" in (logs / "stream.access.log").read_text()  # RabbitMQ between brokers

    gone = star("-f", "delete", "-id", "9999", "10000", "-ip", hosts[0].ip, hosts[1].ip)
    assert (gone.rc, gone.out) == (0, "delete success.\n"), gone.err
    assert not (TEST_BASE_DIR / "exchange").exists()
