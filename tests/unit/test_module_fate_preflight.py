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
