"""deploy and delete through the facade against real FATE 2.2 on this host."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from .conftest import Facade, fate_flow_info, listening, processes_under

pytestmark = pytest.mark.integration

PASSWORD = "Pw-never-written-7f3a"


def test_two_parties_deploy_redeploy_delete(facade: Facade):
    args = ["-pw", PASSWORD, PASSWORD, "-id", "9999", "10000", "-ip", "127.0.0.1", "127.0.0.1"]

    first = facade("-f", "deploy", *args)
    assert (first.rc, first.out) == (0, "deploy success.\n"), first.err
    assert "standalone" in first.err or "127.0.0.1" in first.err  # progress: host and step on stderr
    info = fate_flow_info(9380)
    assert info["code"] == 0
    assert next(iter(info["data"].values()))["version"] == "2.2.0"
    state = facade.state()
    assert sorted(p["party_id"] for p in state["deployment"]["parties"]) == [9999, 10000]

    again = facade("-f", "deploy", *args)
    assert (again.rc, again.out) == (0, "deploy success.\n"), again.err
    assert "fateops deploy: no change on 1 host(s)" in again.err

    # The password reaches no file of the workspace (state, inventories, runner artifacts) and no output.
    for path in facade.home.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path
    assert PASSWORD not in first.err + first.out + again.err

    gone = facade("-f", "delete", *args)
    assert (gone.rc, gone.out) == (0, "delete success.\n"), gone.err
    assert not listening(9380) and not listening(9360)
    assert processes_under(facade.base_dir / "standalone") == []
    assert not (facade.base_dir / "standalone").exists()
    assert facade.state()["deployment"]["parties"] == []

    twice = facade("-f", "delete", *args)
    assert (twice.rc, twice.out) == (0, "delete success.\n"), twice.err


def test_seed_single_host_form(facade: Facade):
    up = facade("-f", "deploy", "-ip", "127.0.0.1", "-id", "1", "-pw", "x", "-u", "root")
    assert (up.rc, up.out) == (0, "deploy success.\n"), up.err
    assert fate_flow_info(9380)["code"] == 0
    down = facade("-f", "delete", "-ip", "127.0.0.1", "-id", "1", "-pw", "x", "-u", "root")
    assert (down.rc, down.out) == (0, "delete success.\n"), down.err
    assert not listening(9380)


def test_delete_of_never_deployed_is_a_no_op(facade: Facade):
    result = facade("-f", "delete", "-id", "4242", "-ip", "127.0.0.1")
    assert (result.rc, result.out) == (0, "delete success.\n"), result.err


def test_port_held_by_foreign_process(facade: Facade, short_dir: Path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        facade.base_dir = short_dir / "parties"
        facade.settings(fate_flow_http_port=port)
        result = facade("-f", "deploy", "-id", "9999", "-ip", "127.0.0.1")
    assert result.rc != 0
    assert result.out == "deploy failure.\n"
    assert f"port {port} is held by pid" in result.err
    # Nothing half done: no state recorded, nothing created on the host.
    assert facade.state() == {}
    assert not (short_dir / "parties").exists()


def test_unreachable_host(facade: Facade, netns_host):
    # A host of our own (a network namespace) with no sshd: the connection is refused.
    result = facade("-f", "deploy", "-id", "9999", "-ip", netns_host, "-pw", "x")
    assert result.rc != 0
    assert result.out == "deploy failure.\n"
    assert f"host {netns_host} is unreachable" in result.err
    assert facade.state() == {}


@pytest.fixture
def netns_host():
    name, host_ip, ns_ip = "fateops-unreach", "10.231.7.1", "10.231.7.2"
    commands = [
        ["ip", "netns", "add", name],
        ["ip", "link", "add", "fo-unr0", "type", "veth", "peer", "name", "fo-unr1"],
        ["ip", "link", "set", "fo-unr1", "netns", name],
        ["ip", "addr", "add", f"{host_ip}/30", "dev", "fo-unr0"],
        ["ip", "link", "set", "fo-unr0", "up"],
        ["ip", "-n", name, "addr", "add", f"{ns_ip}/30", "dev", "fo-unr1"],
        ["ip", "-n", name, "link", "set", "fo-unr1", "up"],
        ["ip", "-n", name, "link", "set", "lo", "up"],
    ]
    try:
        for command in commands:
            subprocess.run(command, check=True, capture_output=True)
        yield ns_ip
    finally:
        subprocess.run(["ip", "link", "del", "fo-unr0"], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def test_secret_settings_reach_the_host_and_no_file_of_the_workspace(facade: Facade):
    """settings.yml's secrets (here FATE-Flow's model store account) reach the party's service_conf.yaml and no
    other file: not the workspace's inventories, state or runner artifacts, nor the output."""
    secret = "Model-store-pw-2b9c"
    facade.settings(fate_model_store_sections={"mysql": {"user": "fate", "passwd": secret, "host": "127.0.0.1"}})
    up = facade("-f", "deploy", "-id", "9999", "-ip", "127.0.0.1")
    try:
        assert (up.rc, up.out) == (0, "deploy success.\n"), up.err
        conf = facade.base_dir / "standalone" / "home" / "conf" / "service_conf.yaml"
        assert secret in conf.read_text()
        again = facade("-f", "deploy", "-id", "9999", "-ip", "127.0.0.1")
        assert "fateops deploy: no change on 1 host(s)" in again.err
        assert secret not in up.out + up.err + again.out + again.err
        holders = [
            path
            for path in facade.home.rglob("*")
            if path.is_file() and path.name != "settings.yml" and secret.encode() in path.read_bytes()
        ]
        assert holders == []
        assert (facade.home / "inventory.yml").exists() and list((facade.home / "runs").rglob("hosts.yml"))
    finally:
        facade("-f", "delete", "-id", "9999", "-ip", "127.0.0.1")
