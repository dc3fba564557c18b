"""fate_files: several files in one call, written only when bytes or mode differ, atomically (hard links broken
for the written file only), check mode, and one-line errors."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from ansible_collections.fateops.federation.plugins.modules import fate_files
from module_runner import module_exits, run_module  # noqa: F401


def run(
    files: list[dict[str, Any]], check: bool = False, absent: list[str] | None = None
) -> tuple[str, dict[str, Any]]:
    return run_module(fate_files.main, {"files": files, "absent": absent or []}, check=check)


def test_writes_what_differs_and_nothing_the_second_time(tmp_path: Path) -> None:
    source = tmp_path / "casbin_model.conf"
    source.write_text("[request_definition]\n")
    files = [
        {"dest": str(tmp_path / "service_conf.yaml"), "content": "party_id: 9999\n", "mode": "0600"},
        {"dest": str(tmp_path / "copy.conf"), "src": str(source), "mode": "0640"},
    ]
    kind, result = run(files)
    assert kind == "exit" and result["changed"] is True
    assert result["changed_files"] == [files[0]["dest"], files[1]["dest"]]
    assert (tmp_path / "service_conf.yaml").read_text() == "party_id: 9999\n"
    assert stat.S_IMODE((tmp_path / "service_conf.yaml").stat().st_mode) == 0o600
    assert (tmp_path / "copy.conf").read_text() == "[request_definition]\n"
    assert stat.S_IMODE((tmp_path / "copy.conf").stat().st_mode) == 0o640
    kind, result = run(files)
    assert kind == "exit" and result == {"changed": False, "changed_files": []}
    # A mode alone differs: the file is rewritten with the right mode.
    os.chmod(tmp_path / "copy.conf", 0o644)
    kind, result = run(files)
    assert result["changed_files"] == [files[1]["dest"]]
    assert stat.S_IMODE((tmp_path / "copy.conf").stat().st_mode) == 0o640
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".fateops-")]


def test_replaces_a_hard_link_without_touching_its_twin(tmp_path: Path) -> None:
    runtime = tmp_path / "runtime-settings.py"
    runtime.write_text("HOME = None\n")
    venv = tmp_path / "settings.py"
    os.link(runtime, venv)
    kind, result = run([{"dest": str(venv), "content": "HOME = '/data'\n", "mode": "0644"}])
    assert kind == "exit" and result["changed"] is True
    assert venv.read_text() == "HOME = '/data'\n"
    assert runtime.read_text() == "HOME = None\n"
    assert venv.stat().st_ino != runtime.stat().st_ino


def test_check_mode_reports_and_writes_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "nginx.conf"
    kind, result = run([{"dest": str(dest), "content": "daemon off;\n", "mode": "0640"}], check=True)
    assert kind == "exit" and result == {"changed": True, "changed_files": [str(dest)]}
    assert not dest.exists()


def test_errors_name_the_file_and_the_fix(tmp_path: Path) -> None:
    kind, result = run([{"dest": str(tmp_path / "a"), "content": "x", "src": str(tmp_path / "b"), "mode": "0640"}])
    assert kind == "fail" and "either content or src" in result["msg"]
    kind, result = run([{"dest": str(tmp_path / "a"), "src": str(tmp_path / "missing"), "mode": "0640"}])
    assert kind == "fail" and "cannot read" in result["msg"] and "install the instance" in result["msg"]
    kind, result = run([{"dest": str(tmp_path / "a"), "content": "x", "mode": "rw-r"}])
    assert kind == "fail" and "not octal" in result["msg"]
    kind, result = run([{"dest": str(tmp_path / "no" / "dir" / "a"), "content": "x", "mode": "0640"}])
    assert kind == "fail" and "cannot write" in result["msg"] and "exists and is writable" in result["msg"]
    assert not (tmp_path / "a").exists()


def test_absent_files_go_in_the_same_call_and_only_when_there(tmp_path: Path) -> None:
    launcher, program = tmp_path / "fate-task-launcher", tmp_path / "fatetasks.conf"
    launcher.write_text("#!/venv/bin/python -IS\n")
    program.symlink_to(tmp_path / "elsewhere.conf")
    kept = {"dest": str(tmp_path / "fateflow.conf"), "content": "[program:fateflow]\n", "mode": "0640"}
    gone = [str(launcher), str(program)]
    kind, result = run([kept], check=True, absent=gone)
    assert kind == "exit" and result["changed_files"] == [kept["dest"], *gone]
    assert launcher.exists() and program.is_symlink()
    kind, result = run([kept], absent=gone)
    assert kind == "exit" and result["changed_files"] == [kept["dest"], *gone]
    assert not launcher.exists() and not program.is_symlink()
    kind, result = run([kept], absent=gone)
    assert kind == "exit" and result == {"changed": False, "changed_files": []}
    # A directory where a file should go away is not removed.
    launcher.mkdir()
    kind, result = run([], absent=[str(launcher)])
    assert (
        kind == "fail"
        and result["msg"] == f"{launcher} is a directory, not a file of the instance; move it away and run again"
    )
    assert launcher.is_dir()
