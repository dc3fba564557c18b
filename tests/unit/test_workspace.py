"""Workspace state: atomic writes, mode 0600, one writer at a time."""

import json
import multiprocessing
import os
import stat
import time

import pytest

from fateops.contracts import Project
from fateops.errors import FateopsError
from fateops.workspace import Workspace, atomic_write


def test_fresh_workspace_has_empty_state(tmp_path):
    ws = Workspace(tmp_path / "ws")
    state = ws.load_state()
    assert state.deployment.parties == [] and state.deployment.hosts == {}
    assert state.projects == {} and state.jobs == {}


def test_state_round_trip_mode_0600(tmp_path):
    ws = Workspace(tmp_path / "ws")
    state = ws.load_state()
    state.projects["p"] = Project(tables=[])
    ws.save_state(state)
    assert ws.load_state().projects == {"p": Project(tables=[])}
    assert stat.S_IMODE(os.stat(ws.state_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(ws.home).st_mode) == 0o700


def test_env_overrides_home(tmp_path, monkeypatch):
    monkeypatch.setenv("FATEOPS_HOME", str(tmp_path / "elsewhere"))
    assert Workspace().home == (tmp_path / "elsewhere").resolve()


def test_failed_write_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "state.json"
    atomic_write(target, '{"old": true}')

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        atomic_write(target, '{"new": true}')
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_corrupt_state_is_a_clear_error(tmp_path):
    ws = Workspace(tmp_path / "ws")
    ws.ensure()
    ws.state_path.write_text("{not json")
    with pytest.raises(FateopsError, match="unreadable"):
        ws.load_state()


def _hold_lock(home, ready, seconds):
    ws = Workspace(home)
    with ws.locked():
        ready.set()
        time.sleep(seconds)


def test_second_writer_waits_then_gives_up(tmp_path):
    home = tmp_path / "ws"
    ready = multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold_lock, args=(home, ready, 3))
    holder.start()
    try:
        assert ready.wait(10)
        started = time.monotonic()
        with (
            pytest.raises(FateopsError, match=rf"pid {holder.pid}\) is using the workspace"),
            Workspace(home).locked(wait=0.5),
        ):
            pass
        assert time.monotonic() - started < 2
    finally:
        holder.join()
    # Released: the next writer gets it at once.
    with Workspace(home).locked(wait=0.1):
        pass


def test_settings_must_be_a_mapping(tmp_path):
    ws = Workspace(tmp_path / "ws")
    ws.ensure()
    ws.settings_path.write_text("- a\n- b\n")
    with pytest.raises(FateopsError, match="mapping"):
        ws.settings()
    ws.settings_path.write_text("fate_flow_http_port: 19380\n")
    assert ws.settings() == {"fate_flow_http_port": 19380}


def test_runs_are_pruned(tmp_path, monkeypatch):
    monkeypatch.setattr("fateops.workspace.KEEP_RUNS", 3)
    ws = Workspace(tmp_path / "ws")
    for _ in range(6):
        ws.new_run_dir("deploy")
    assert len(list(ws.runs_dir.iterdir())) == 3
