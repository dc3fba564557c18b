"""Ports and processes read from /proc, as the preflight and cleanup modules see them."""

import socket
import subprocess
import sys
import time

import pytest
from ansible_collections.fateops.federation.plugins.module_utils import host_processes
from ansible_collections.fateops.federation.plugins.modules import fate_preflight

LISTENER = (
    "import socket, sys, time\n"
    "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
    "print(s.getsockname()[1], flush=True); time.sleep(60)\n"
)


@pytest.fixture
def listener(tmp_path):
    marker = str(tmp_path / "instance") + "/"
    proc = subprocess.Popen([sys.executable, "-c", LISTENER, marker], stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    yield proc, port, marker
    proc.kill()
    proc.wait()


def test_free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert fate_preflight.port_state(port, "/nowhere/")["state"] == "free"


def test_port_held_by_our_instance(listener):
    proc, port, marker = listener
    state = fate_preflight.port_state(port, marker)
    assert state["state"] == "ours"
    assert state["pid"] == proc.pid


def test_port_held_by_someone_else(listener):
    proc, port, _ = listener
    state = fate_preflight.port_state(port, "/data/projects/fate/standalone/")
    assert state["state"] == "foreign"
    assert state["pid"] == proc.pid


def test_processes_of_an_instance_are_found_and_stopped(listener):
    proc, _, marker = listener
    found = host_processes.processes_matching(marker)
    assert [p.pid for p in found] == [proc.pid]
    host_processes.terminate(found, grace=5)
    deadline = time.monotonic() + 5
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is not None
    assert host_processes.processes_matching(marker) == []
