"""The runner hands Ansible data, a small environment and no secret; a signal ends the playbook's processes.

These run real ansible-playbook processes on the local connection (no network, no FATE).
"""

from __future__ import annotations

import io
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
from fateops.runner import Interrupted, Progress, child_environment, host_key_explainer, run_playbook
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


def test_child_environment_passes_the_callers_docker_engine(tmp_path, monkeypatch):
    """Compose parties on the controller's host run on the engine the operator's docker CLI uses."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///srv/engine/docker.sock")
    monkeypatch.setenv("DOCKER_CONTEXT", "parties")
    monkeypatch.setenv("DOCKER_AUTH_CONFIG", "registry-token")
    env = child_environment(tmp_path)
    assert (env["DOCKER_HOST"], env["DOCKER_CONTEXT"]) == ("unix:///srv/engine/docker.sock", "parties")
    # Only the engine's address and context: nothing else Docker reads (credentials) goes along.
    assert "DOCKER_AUTH_CONFIG" not in env and "registry-token" not in json.dumps(env)
    monkeypatch.delenv("DOCKER_HOST")
    assert "DOCKER_HOST" not in child_environment(tmp_path)


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


# OpenSSH's refusals as Ansible reports them (runner_on_unreachable, res.msg), StrictHostKeyChecking=yes.
CHANGED_KEY = (
    "Failed to connect to the host via ssh: @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\n"
    "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\n"
    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\n"
    "IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\r\n"
    "Offending ED25519 key in /ws/ssh/known_hosts:1\r\n"
    "Host key for 10.77.1.2 has changed and you have requested strict checking.\r\n"
    "Host key verification failed."
)
UNKNOWN_KEY = (
    "Failed to connect to the host via ssh: No ED25519 host key is known for 10.77.1.2 and you have requested "
    "strict checking.\r\nHost key verification failed."
)


# Mitogen's ssh connection says the same for both.
MITOGEN_REFUSED = "Host key checking is enabled, and SSH reported an unrecognized or mismatching host key."


def _unreachable(host: str, message: str) -> dict:
    return {
        "event": "runner_on_unreachable",
        "event_data": {"host": host, "task": "Gathering", "res": {"msg": message}},
    }


def test_a_refused_host_key_becomes_one_line_with_the_command_to_run(tmp_path):
    inventory = {
        "all": {
            "children": {
                "fate_parties": {"hosts": {"10.77.1.2": {"ansible_host": "10.77.1.2", "ansible_port": 2222}}},
                "fate_exchange": {"hosts": {"10.77.1.5": {"ansible_host": "10.77.1.5"}}},
            }
        }
    }
    known_hosts = tmp_path / "ssh" / "known_hosts"
    stream = io.StringIO()
    progress = Progress("upload", stream, explain=host_key_explainer(inventory, known_hosts))
    progress(_unreachable("10.77.1.2", CHANGED_KEY))
    progress(_unreachable("10.77.1.5", UNKNOWN_KEY))
    progress(_unreachable("10.77.1.6", "Failed to connect to the host via ssh: Connection refused"))
    # A loop task reports per item.
    looped = _unreachable("10.77.1.2", "All items completed")
    looped["event_data"]["res"]["results"] = [{"unreachable": True, "msg": CHANGED_KEY}]
    progress(looped)
    changed, unknown, other, changed_in_loop = progress.failures
    assert changed_in_loop == changed
    assert "\n" not in changed + unknown
    assert changed.startswith("10.77.1.2: unreachable: the ssh host key of [10.77.1.2]:2222 has changed")
    assert f"`ssh-keygen -R '[10.77.1.2]:2222' -f {known_hosts}`" in changed
    assert unknown.startswith(f"10.77.1.5: unreachable: the ssh host key of 10.77.1.5 is not recorded in {known_hosts}")
    assert "never added silently" in unknown and "-f deploy" in unknown
    assert other == "10.77.1.6: unreachable: Failed to connect to the host via ssh: Connection refused"
    assert "ssh-keygen -R" in stream.getvalue()


def test_mitogens_refusal_is_told_apart_by_what_known_hosts_holds(tmp_path):
    inventory = {"all": {"hosts": {"10.77.1.2": {"ansible_port": 2222}, "10.77.1.5": {}}}}
    known_hosts = tmp_path / "known_hosts"
    key = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    known_hosts.write_text(f"[10.77.1.2]:2222 ssh-ed25519 {key}\n")
    progress = Progress("deploy", io.StringIO(), explain=host_key_explainer(inventory, known_hosts))
    progress(_unreachable("10.77.1.2", MITOGEN_REFUSED))
    progress(_unreachable("10.77.1.5", MITOGEN_REFUSED))
    changed, unknown = progress.failures
    assert changed.startswith("10.77.1.2: unreachable: the ssh host key of [10.77.1.2]:2222 has changed")
    assert unknown.startswith(f"10.77.1.5: unreachable: the ssh host key of 10.77.1.5 is not recorded in {known_hosts}")
