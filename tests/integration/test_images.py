"""playbooks/images.yml against the real Docker engine (make docker): the FATE 2.2 party's images are built from a
debootstrap base and the pinned files, each one runs and answers (FATE-Flow's HTTP API, RabbitMQ's AMQP port and
management API, nginx with its stream module, the serving service's health), their docker save archives are
written, and a second build changes nothing."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_v2 import FateFlowClient
from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_wait import wait_until_answers

from tests.integration.conftest import IMAGES_RECORD, images_playbook

pytestmark = pytest.mark.integration

IMAGES = ("fateflow", "serving", "rabbitmq", "nginx")
START_TIMEOUT = 180


def _docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=check)


def _recap(run: subprocess.CompletedProcess[str]) -> str:
    return "\n".join(line for line in run.stdout.split("PLAY RECAP")[-1].splitlines() if " ok=" in line)


@pytest.fixture(scope="module")
def built(fateops_images: dict) -> dict[str, str]:
    """What is missing built (nothing on a warm cache, conftest.fateops_images); the images' tags from the record."""
    assert sorted(fateops_images["fate_images_built"]) == sorted(IMAGES)
    return fateops_images["fate_images_built"]


@pytest.fixture
def container(request: pytest.FixtureRequest) -> Iterator[Callable[..., tuple[str, dict[int, int]]]]:
    """Runs an image detached with its ports published on loopback (ports Docker picks, so nothing clashes with
    the suite's fixed ports); returns the container's name and {container port: host port}. Removed after."""
    names: list[str] = []

    def run(image: str, *ports: int, args: tuple[str, ...] = ()) -> tuple[str, dict[int, int]]:
        name = f"fateops-it-{request.node.name[:40]}-{os.getpid()}-{len(names)}"
        publish = [arg for port in ports for arg in ("--publish", f"127.0.0.1::{port}")]
        _docker("run", "--detach", "--name", name, *publish, image, *args)
        names.append(name)
        mapped = {}
        for port in ports:
            out = _docker("port", name, f"{port}/tcp").stdout.split()[0]
            mapped[port] = int(out.rsplit(":", 1)[1])
        return name, mapped

    yield run
    for name in names:
        _docker("rm", "--force", "--volumes", name, check=False)


def _until(probe: Callable[[], bool], what: str, name: str, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(1)
    logs = _docker("logs", "--tail", "40", name, check=False)
    pytest.fail(f"{what} did not answer within {timeout} s; its logs:\n{logs.stdout}{logs.stderr}")


def _http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def test_images_exist_with_their_archives(built: dict[str, str]) -> None:
    inspected = json.loads(_docker("image", "inspect", *built.values()).stdout)
    assert sorted(tag for image in inspected for tag in image["RepoTags"]) == sorted(built.values())
    # Each tag carries the hash of what the image is built from.
    assert re.fullmatch(r"fateops/fateflow:2\.2\.0-[0-9a-f]{12}", built["fateflow"]), built
    for name in ("serving", "rabbitmq", "nginx"):
        assert re.fullmatch(rf"fateops/{name}:[0-9a-f]{{12}}", built[name]), built
    written = yaml.safe_load(IMAGES_RECORD.read_text())
    archives = [Path(path) for path in written["fate_compose_image_archives"]]
    assert len(archives) == len(IMAGES)
    saved = []
    for archive in archives:
        assert archive.stat().st_size > 10_000_000, archive
        # A docker save archive names its image in its manifest.
        listing = subprocess.run(
            ["tar", "-xOf", str(archive), "manifest.json"], capture_output=True, text=True, check=True
        )
        saved += json.loads(listing.stdout)[0]["RepoTags"]
    assert sorted(saved) == sorted(built.values())


def test_fateflow_image_serves_fate_flow(built: dict[str, str], container) -> None:
    name, ports = container(built["fateflow"], 9380)
    client = FateFlowClient(host="127.0.0.1", port=ports[9380], timeout=10)
    info = wait_until_answers(client.server_info, timeout=START_TIMEOUT, poll_interval=2)
    assert info, info
    versions = _docker(
        "exec",
        name,
        "python",
        "-c",
        "from importlib.metadata import version as v; print(v('pyfate'), v('fate-flow'), v('fate-client'))",
    )
    assert versions.stdout.split() == ["2.2.0"] * 3, versions
    # FATE-Flow runs from the image's venv, under tini as PID 1.
    assert _docker("exec", name, "cat", "/proc/1/comm").stdout.strip() == "tini"


def test_rabbitmq_image_answers(built: dict[str, str], container) -> None:
    name, ports = container(built["rabbitmq"], 5672, 15672)

    def amqp_answers() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", ports[5672]), timeout=5) as conn:
                conn.sendall(b"AMQP\x00\x00\x09\x01")
                frame = conn.recv(7)
        except OSError:
            return False
        # The broker's first frame is a method frame (type 1) on channel 0: connection.start.
        return frame[:3] == b"\x01\x00\x00"

    _until(amqp_answers, "RabbitMQ's AMQP port", name)
    # The management API answers (and wants credentials).
    _until(lambda: _http_status(f"http://127.0.0.1:{ports[15672]}/api/overview") == 401, "RabbitMQ management", name)
    plugins = _docker("exec", name, "rabbitmq-plugins", "list", "--enabled", "--minimal").stdout.split()
    assert {"rabbitmq_management", "rabbitmq_federation"} <= set(plugins), plugins


def test_nginx_image_answers_with_the_stream_module(built: dict[str, str], container) -> None:
    name, ports = container(built["nginx"], 80)
    _until(lambda: _http_status(f"http://127.0.0.1:{ports[80]}/") == 200, "nginx", name)
    stream_conf = (
        "load_module /usr/lib/nginx/modules/ngx_stream_module.so; events {} "
        "stream { server { listen 127.0.0.1:35999; proxy_pass 127.0.0.1:80; } }"
    )
    check = _docker("exec", name, "sh", "-c", f"printf '%s' '{stream_conf}' > /tmp/s.conf && nginx -t -c /tmp/s.conf")
    assert "test is successful" in check.stderr, check


def test_serving_image_answers(built: dict[str, str], container) -> None:
    name, ports = container(built["serving"], 8059)
    _until(lambda: _http_status(f"http://127.0.0.1:{ports[8059]}/health") == 200, "the serving service", name)


def test_a_second_build_changes_nothing(built: dict[str, str]) -> None:
    again = images_playbook(timeout=600)
    assert again.returncode == 0, again.stdout[-4000:]
    recap = _recap(again)
    # Nothing rebuilt (benchmarks/compose.py times a warm make images).
    assert re.search(r"changed=0\s", recap), recap
    check = images_playbook("--check", timeout=600)
    assert check.returncode == 0 and re.search(r"changed=0\s", _recap(check)), check.stdout[-4000:]
