"""The runner hands Ansible data, a small environment and no secret; a signal ends the playbook's processes.

These run real ansible-playbook processes on the local connection (no network, no FATE).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from ansible.parsing.yaml.loader import AnsibleLoader

from fateops.deployment import Host, host_vars
from fateops.runner import Interrupted, child_environment, run_playbook
from fateops.workspace import Workspace, unsafe_yaml

PAYLOAD = "{{ lookup('pipe', 'touch %s') }}"


@pytest.fixture
def probe_playbook(tmp_path):
    """A playbook of the test's own (run_playbook takes an absolute path as it is)."""

    def write(text: str) -> str:
        path = tmp_path / "probe.yml"
        path.write_text(text)
        return str(path)

    return write


def _local_inventory(*ips: str) -> dict:
    return {"all": {"hosts": {ip: host_vars(Host(ip, "root", True)) for ip in ips}}}


def test_unsafe_yaml_loads_back_as_the_same_data_marked_unsafe():
    data = {"a": "{{ x }}", "n": 3, "flag": True, "items": [{"path": "/p q"}], 9999: {"k": "v"}, "none": None}
    text = unsafe_yaml(data)
    assert yaml.load(text, Loader=AnsibleLoader) == data
    # Every string is tagged, keys too (7 keys, 3 values); numbers, booleans and null stay what they are.
    assert text.count("!unsafe") == 10
    assert "!unsafe 'a': !unsafe '{{ x }}'" in text and "9999:" in text


def test_child_environment_keeps_no_caller_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-key")
    monkeypatch.setenv("FATEOPS_EXCHANGE_PASSWORD", "hub-password")
    env = child_environment(tmp_path)
    assert "s3cr3t-key" not in json.dumps(env) and "hub-password" not in json.dumps(env)
    assert env["ANSIBLE_HOST_KEY_CHECKING"] == "True"
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)


def test_values_reach_tasks_literally_and_nothing_secret_is_kept(tmp_path, probe_playbook, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-key")
    marker_extra, marker_inventory = tmp_path / "from-extra-vars", tmp_path / "from-inventory"
    playbook = probe_playbook(
        """
- hosts: all
  gather_facts: false
  tasks:
    - name: Use both values in a template
      ansible.builtin.command:
        argv: [echo, "{{ fate_probe.value }}|{{ fate_probe_setting }}"]
      register: probe
    - name: Show the child's environment
      ansible.builtin.command:
        argv: [env]
      register: probe_env
    - name: Publish
      ansible.builtin.set_stats:
        data: {echoed: "{{ probe.stdout }}", env: "{{ probe_env.stdout }}"}
"""
    )
    inventory = _local_inventory("127.0.0.1")
    inventory["all"]["vars"] = {"fate_probe_setting": PAYLOAD % marker_inventory}
    workspace = Workspace(tmp_path / "ws")
    result = run_playbook(workspace, playbook, inventory, "probe", {"fate_probe": {"value": PAYLOAD % marker_extra}})
    assert result.ok, result.failures
    assert result.data["echoed"] == f"{PAYLOAD % marker_extra}|{PAYLOAD % marker_inventory}"
    assert not marker_extra.exists() and not marker_inventory.exists()
    assert "ANSIBLE_HOST_KEY_CHECKING=True" in result.data["env"]
    assert "s3cr3t-key" not in result.data["env"]
    # The artifacts keep the command and no environment.
    (command_file,) = result.run_dir.glob("artifacts/*/command")
    assert set(json.loads(command_file.read_text())) == {"command", "cwd"}
    found = subprocess.run(["grep", "-rl", "s3cr3t-key", str(workspace.home)], capture_output=True, text=True)
    assert found.stdout == ""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_ends_the_playbook_before_the_caller_goes_on(tmp_path, probe_playbook, signum):
    marker = tmp_path / "sleeping"
    # A duration of this test's own: other test runs on the machine may be sleeping too.
    duration = f"120.{os.getpid()}{int(signum)}"
    playbook = probe_playbook(
        f"""
- hosts: all
  gather_facts: false
  tasks:
    - name: Sleep
      ansible.builtin.command:
        argv: [sh, -c, "touch {marker}; exec sleep {duration}"]
"""
    )
    workspace = Workspace(tmp_path / "ws")

    def send_when_sleeping() -> None:
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        os.kill(os.getpid(), signum)

    threading.Thread(target=send_when_sleeping, daemon=True).start()
    with pytest.raises(Interrupted) as stopped:
        run_playbook(workspace, playbook, _local_inventory("127.0.0.1", "127.0.0.2"), "probe")
    message = str(stopped.value)
    assert signal.Signals(signum).name in message
    assert "127.0.0.1 (Sleep)" in message and "127.0.0.2 (Sleep)" in message
    # Nothing the playbook started is still running.
    left = subprocess.run(["pgrep", "-f", f"sleep {duration}"], capture_output=True, text=True).stdout.split()
    assert [pid for pid in left if int(pid) != os.getpid()] == []
    assert signal.getsignal(signum) is not None
