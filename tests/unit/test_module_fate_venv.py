"""fate_venv: the instance's venv hard-linked from the host's runtime once, made again from a new runtime, FATE-Flow's
package found in it; check mode; a missing runtime is one line naming the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ansible_collections.fateops.federation.plugins.modules import fate_venv
from module_runner import module_exits, run_module  # noqa: F401

MARKER = "fate 2.2.0 2346eb62e84b\n"


def runtime(root: Path, marker: str = MARKER) -> Path:
    package = root / "lib" / "python3.11" / "site-packages" / "fate_flow"
    package.mkdir(parents=True)
    (package / "settings.py").write_text("HOME = None\n")
    (root / ".complete").write_text(marker)
    return root


def run(built: Path, venv: Path, check: bool = False, marker: str = MARKER) -> tuple[str, dict[str, Any]]:
    return run_module(fate_venv.main, {"runtime": str(built), "venv": str(venv), "marker": marker}, check=check)


def test_links_once_and_finds_the_package(tmp_path: Path) -> None:
    built = runtime(tmp_path / "runtime")
    venv = tmp_path / "standalone" / "venv"
    venv.parent.mkdir()
    kind, result = run(built, venv, check=True)
    assert kind == "exit" and result["changed"] is True and not venv.exists()
    assert result["package_dir"] == str(venv / "lib" / "python3.11" / "site-packages" / "fate_flow")
    kind, result = run(built, venv)
    assert kind == "exit" and result["changed"] is True and result["relinked"] is False
    settings = Path(result["package_dir"]) / "settings.py"
    assert settings.stat().st_ino == (built / "lib/python3.11/site-packages/fate_flow/settings.py").stat().st_ino
    kind, again = run(built, venv)
    assert kind == "exit" and again["changed"] is False and again["package_dir"] == result["package_dir"]


def test_a_venv_of_another_runtime_is_made_again(tmp_path: Path) -> None:
    old = runtime(tmp_path / "old", marker="fate 2.2.0 000000000000\n")
    venv = tmp_path / "venv"
    kind, _ = run(old, venv, marker="fate 2.2.0 000000000000\n")
    assert kind == "exit"
    (venv / "stale").write_text("x")
    built = runtime(tmp_path / "new")
    kind, result = run(built, venv)
    assert kind == "exit" and result["changed"] is True and result["relinked"] is True
    assert (venv / ".complete").read_text() == MARKER and not (venv / "stale").exists()


def test_a_missing_runtime_names_the_fix(tmp_path: Path) -> None:
    kind, result = run(tmp_path / "nowhere", tmp_path / "venv")
    assert kind == "fail" and "build it (playbooks/runtime.yml)" in result["msg"]
    assert not (tmp_path / "venv").exists()


def test_report_makes_the_directories_and_says_the_runtime_is_missing(tmp_path: Path) -> None:
    venv = tmp_path / "standalone" / "venv"
    home = tmp_path / "standalone" / "home"
    args = {"runtime": str(tmp_path / "nowhere"), "venv": str(venv), "marker": MARKER}
    wanted = {**args, "directories": [str(home), str(home / "conf")], "runtime_missing": "report"}
    kind, result = run_module(fate_venv.main, wanted, check=True)
    assert kind == "exit" and result["runtime_ready"] is False and result["changed"] is True
    assert not home.exists()
    kind, result = run_module(fate_venv.main, wanted)
    assert kind == "exit" and result["runtime_ready"] is False and result["created"] == [str(home), str(home / "conf")]
    assert (home / "conf").is_dir() and oct((home / "conf").stat().st_mode & 0o777) == "0o750"
    assert not venv.exists()
    # Built: the same call links the venv, the directories are there already.
    built = runtime(tmp_path / "nowhere")
    kind, result = run_module(fate_venv.main, wanted)
    assert kind == "exit" and result["runtime_ready"] is True and result["changed"] is True and result["created"] == []
    assert (venv / ".complete").read_text() == MARKER
    kind, result = run_module(fate_venv.main, wanted)
    assert kind == "exit" and result["changed"] is False
    assert built.is_dir()


def test_a_bad_mode_is_refused(tmp_path: Path) -> None:
    built = runtime(tmp_path / "runtime")
    args = {"runtime": str(built), "venv": str(tmp_path / "venv"), "marker": MARKER, "mode": "rwx"}
    kind, result = run_module(fate_venv.main, args)
    assert kind == "fail" and "is not an octal mode" in result["msg"]
