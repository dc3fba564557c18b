"""fate_preflight run whole: a host that passes, and the programs a party runs (the broker's, nginx's) missing."""

from __future__ import annotations

import sys
from pathlib import Path

from ansible_collections.fateops.federation.plugins.modules import fate_preflight
from module_runner import module_exits, run_module  # noqa: F401


def _args(tmp_path: Path, **extra) -> dict:
    return {"python": sys.executable, "path": str(tmp_path / "fate"), "min_free_mb": 0, "owner_marker": "/x/", **extra}


def test_a_host_with_its_programs_passes(tmp_path: Path):
    program = tmp_path / "nginx"
    program.write_text("")
    outcome, result = run_module(fate_preflight.main, _args(tmp_path, programs=[str(program)]), check=True)
    assert outcome == "exit", result
    assert result["changed"] is False and result["python_version"].startswith("3.")


def test_missing_programs_are_named_with_the_hint(tmp_path: Path):
    present = tmp_path / "nginx"
    present.write_text("")
    missing = [str(tmp_path / "rabbitmq-server"), str(tmp_path / "other")]
    outcome, result = run_module(
        fate_preflight.main,
        _args(tmp_path, programs=[missing[0], str(present), missing[1]], programs_hint="apt-get install them"),
    )
    assert outcome == "fail"
    assert result["msg"] == f"{missing[0]} and {missing[1]} missing: apt-get install them"


def test_a_runtime_that_is_built_or_can_be_built_passes(tmp_path: Path):
    marker = tmp_path / ".runtime" / "fate-2.2.0-0123456789ab" / ".complete"
    outcome, result = run_module(fate_preflight.main, _args(tmp_path, runtime_marker=str(marker)), check=True)
    # Not built yet, and this Python has venv and ensurepip: the deploy can build it.
    assert (outcome, result["runtime_present"]) == ("exit", False), result
    marker.parent.mkdir(parents=True)
    marker.write_text("fate 2.2.0 0123456789ab\n")
    outcome, result = run_module(fate_preflight.main, _args(tmp_path, runtime_marker=str(marker)), check=True)
    assert (outcome, result["runtime_present"]) == ("exit", True), result


def test_a_runtime_the_hosts_python_cannot_build_is_named_with_the_fix(tmp_path: Path):
    """A bare Debian host: python3 without python3-venv (no ensurepip). The runtime's marker is missing."""
    python = tmp_path / "python3"
    python.write_text(f'#!/bin/sh\ncase "$2" in *ensurepip*) exit 1;; esac\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)
    marker = tmp_path / ".runtime" / "fate-2.2.0-0123456789ab" / ".complete"
    outcome, result = run_module(fate_preflight.main, _args(tmp_path, python=str(python), runtime_marker=str(marker)))
    assert outcome == "fail"
    assert result["msg"] == (
        f"the FATE runtime is not built on this host yet and '{python}' cannot build it (it lacks the venv and "
        "ensurepip modules): install python3-venv there (apt-get install python3-venv) and deploy again"
    )
    # A runtime already there needs nothing of the host's Python but its version.
    marker.parent.mkdir(parents=True)
    marker.write_text("")
    outcome, result = run_module(fate_preflight.main, _args(tmp_path, python=str(python), runtime_marker=str(marker)))
    assert outcome == "exit", result
