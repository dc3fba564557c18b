"""The workspace's deployment id: made once, kept in state.json, handed to every host as fate_deployment_id."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fateops import deployment, lifecycle
from fateops.runner import RunResult
from fateops.workspace import Workspace, deployment_id


def _inventory(**extra: Any) -> dict[str, Any]:
    host = deployment.Host("192.0.2.10", "root", False, [9999])
    flows = {"192.0.2.10": [deployment.Flow("party-9999", [9999], 9380, 9360)]}
    return deployment.build_inventory({"192.0.2.10": host}, flows, {"fate_deployment_id": "forged"}, **extra)


def test_id_is_made_once_and_kept(tmp_path: Path):
    workspace = Workspace(tmp_path / "ws")
    state = workspace.load_state()
    made = deployment_id(state)
    assert len(made) == 36 and made.count("-") == 4
    assert deployment_id(state) == made
    workspace.save_state(state)
    assert deployment_id(workspace.load_state()) == made
    assert deployment_id(Workspace(tmp_path / "other").load_state()) != made


def test_a_state_file_from_before_ids_gets_one(tmp_path: Path):
    workspace = Workspace(tmp_path / "ws")
    workspace.ensure()
    old = {"version": 1, "deployment": {"parties": [{"party_id": 1, "ip": "127.0.0.1"}], "hosts": {}}}
    workspace.state_path.write_text(json.dumps(old))
    state = workspace.load_state()
    assert deployment_id(state)
    assert state.deployment.as_dict()["parties"] == old["deployment"]["parties"]


def test_inventory_carries_the_id_over_any_setting():
    assert _inventory(deployment_id="abc")["all"]["vars"]["fate_deployment_id"] == "abc"
    # Without one (read-only inventories of an older workspace) the settings pass through untouched.
    assert _inventory()["all"]["vars"]["fate_deployment_id"] == "forged"


class _Runs:
    def __init__(self, result: RunResult | BaseException) -> None:
        self.result = result

    def __call__(self, *args: Any, **kwargs: Any) -> RunResult:
        if isinstance(self.result, BaseException):
            raise self.result
        return self.result


@pytest.mark.parametrize(
    ("outcome", "kept"),
    [
        (RunResult(ok=False, changed=0, failures=["refused"]), False),
        (RunResult(ok=False, changed=3, failures=["start timed out"]), True),
        (KeyboardInterrupt(), True),
    ],
)
def test_a_new_id_is_saved_once_a_failed_run_may_have_used_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, outcome: RunResult | BaseException, kept: bool
):
    workspace = Workspace(tmp_path / "ws")
    state = workspace.load_state()
    made = deployment_id(state)
    monkeypatch.setattr(lifecycle, "run_playbook", _Runs(outcome))
    if isinstance(outcome, BaseException):
        with pytest.raises(KeyboardInterrupt):
            lifecycle._run_deploy(workspace, state, {}, "deploy", new_id=True)
    else:
        assert lifecycle._run_deploy(workspace, state, {}, "deploy", new_id=True) is outcome
    # Instances marked with it in a run that changed something (or was stopped) must stay this workspace's.
    assert workspace.state_path.exists() is kept
    if kept:
        assert workspace.load_state().deployment.id == made
