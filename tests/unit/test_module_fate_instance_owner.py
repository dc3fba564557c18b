"""fate_instance_owner: the owner check before any host changes, recording it idempotently, adoption, check mode."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.fateops.federation.plugins.modules import fate_instance_owner
from module_runner import module_exits, run_module  # noqa: F401

OURS = "3f0c1c2e-8d0b-4f6e-9a57-1b2b8f0f5e21"
THEIRS = "9b1d0e7a-2c4f-4a8e-b1d3-5e6f7a8b9c0d"


def args(base: Path, *names: str, **extra: Any) -> dict[str, Any]:
    return {"base_dir": str(base), "names": list(names), "deployment_id": OURS, "host": "127.0.0.1", **extra}


def ok(module_args: dict[str, Any], check: bool = False, diff: bool = False) -> dict[str, Any]:
    kind, result = run_module(fate_instance_owner.main, module_args, check=check, diff=diff)
    assert kind == "exit", result
    return result


def failure(module_args: dict[str, Any], check: bool = False) -> str:
    kind, result = run_module(fate_instance_owner.main, module_args, check=check)
    assert kind == "fail", result
    assert result.get("changed", False) is False
    return result["msg"]


def instance(base: Path, name: str, owner: str | None = None) -> Path:
    path = base / name
    path.mkdir(parents=True)
    if owner is not None:
        (path / "fateops-owner").write_text(f"{owner}\n")
    return path


def owner_of(path: Path) -> str:
    return (path / "fateops-owner").read_text()


def states(result: dict[str, Any]) -> dict[str, str]:
    return {entry["name"]: entry["state"] for entry in result["instances"]}


# -------------------------------------------------------------------------------------------------------- checked


def test_check_reports_every_instance_and_changes_nothing(tmp_path: Path):
    instance(tmp_path, "standalone", OURS)
    instance(tmp_path, "party-9999")
    result = ok(args(tmp_path, "standalone", "party-9999", "party-10000", state="checked"))
    assert result["changed"] is False
    assert states(result) == {"standalone": "ours", "party-9999": "unowned", "party-10000": "new"}
    # An instance of an older fateops is not marked by the check: only a deploy records its owner.
    assert not (tmp_path / "party-9999" / "fateops-owner").exists()
    assert not (tmp_path / "party-10000").exists()


def test_check_refuses_another_deployments_instance_in_one_line(tmp_path: Path):
    instance(tmp_path, "standalone", THEIRS)
    message = failure(args(tmp_path, "standalone", state="checked"))
    assert message == (
        f"standalone on 127.0.0.1 belongs to another fateops deployment ({THEIRS}); delete it from that workspace, "
        "or set fate_adopt_instances: true in settings.yml to take it over"
    )
    assert "\n" not in message
    assert owner_of(tmp_path / "standalone") == f"{THEIRS}\n"


def test_check_mode_refuses_too(tmp_path: Path):
    instance(tmp_path, "confs-9999", THEIRS)
    assert "confs-9999 on 127.0.0.1 belongs to another" in failure(args(tmp_path, "confs-9999"), check=True)


def test_check_with_adopt_passes_and_says_so(tmp_path: Path):
    instance(tmp_path, "standalone", THEIRS)
    result = ok(args(tmp_path, "standalone", state="checked", adopt=True))
    assert states(result) == {"standalone": "adopted"}
    assert result["instances"][0]["owner"] == THEIRS
    assert owner_of(tmp_path / "standalone") == f"{THEIRS}\n"


def test_without_a_deployment_id_an_owned_instance_is_still_refused(tmp_path: Path):
    instance(tmp_path, "exchange", THEIRS)
    instance(tmp_path, "standalone")
    assert "exchange on 127.0.0.1 belongs to" in failure(args(tmp_path, "exchange", deployment_id=""))
    result = ok(args(tmp_path, "standalone", deployment_id=""))
    # Nothing recorded without an id: the role run on its own claims nothing.
    assert result["changed"] is False
    assert not (tmp_path / "standalone" / "fateops-owner").exists()


# -------------------------------------------------------------------------------------------------------- present


def test_records_the_owner_once_mode_0644(tmp_path: Path):
    path = instance(tmp_path, "standalone")
    first = ok(args(tmp_path, "standalone"))
    assert first["changed"] is True
    assert owner_of(path) == f"{OURS}\n"
    assert stat.S_IMODE((path / "fateops-owner").stat().st_mode) == 0o644
    again = ok(args(tmp_path, "standalone"))
    assert again["changed"] is False
    assert states(again) == {"standalone": "ours"}
    # No temporary file left behind.
    assert sorted(p.name for p in path.iterdir()) == ["fateops-owner"]


def test_present_refuses_another_deployments_instance(tmp_path: Path):
    path = instance(tmp_path, "standalone", THEIRS)
    assert "belongs to another fateops deployment" in failure(args(tmp_path, "standalone"))
    assert owner_of(path) == f"{THEIRS}\n"


def test_adopt_rewrites_the_owner(tmp_path: Path):
    path = instance(tmp_path, "standalone", THEIRS)
    result = ok(args(tmp_path, "standalone", adopt=True), diff=True)
    assert result["changed"] is True
    assert owner_of(path) == f"{OURS}\n"
    assert result["diff"][0]["before"] == f"{THEIRS}\n" and result["diff"][0]["after"] == f"{OURS}\n"
    assert ok(args(tmp_path, "standalone", adopt=True))["changed"] is False


def test_check_mode_writes_nothing_even_on_a_new_host(tmp_path: Path):
    path = instance(tmp_path, "standalone")
    assert ok(args(tmp_path, "standalone"), check=True)["changed"] is True
    assert not (path / "fateops-owner").exists()
    # In check mode the instance directory may not exist yet: it would be made, then marked.
    assert ok(args(tmp_path, "party-9999"), check=True)["changed"] is True
    assert not (tmp_path / "party-9999").exists()


def test_present_needs_the_instance_directory(tmp_path: Path):
    assert "does not exist; create the instance" in failure(args(tmp_path, "standalone"))


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../standalone"])
def test_names_must_be_one_directory(tmp_path: Path, name: str):
    assert "not single directory names" in failure(args(tmp_path, name, state="checked"))


def test_create_makes_a_new_instance_directory_then_records_it(tmp_path: Path):
    # Check mode makes nothing; the deploy then makes the directory (0750) and records its owner in one call.
    assert ok(args(tmp_path, "party-9999", create=True), check=True)["changed"] is True
    assert not (tmp_path / "party-9999").exists()
    assert ok(args(tmp_path, "party-9999", create=True))["changed"] is True
    path = tmp_path / "party-9999"
    assert owner_of(path) == f"{OURS}\n" and stat.S_IMODE(path.stat().st_mode) == 0o750
    assert ok(args(tmp_path, "party-9999", create=True))["changed"] is False
    # Without a deployment id (the roles on their own) the directory is still made, and no owner recorded.
    assert ok(args(tmp_path, "party-10000", create=True, deployment_id=""))["changed"] is True
    assert (tmp_path / "party-10000").is_dir() and not (tmp_path / "party-10000" / "fateops-owner").exists()


def test_create_still_refuses_another_deployments_instance(tmp_path: Path):
    instance(tmp_path, "standalone", owner=THEIRS)
    assert "belongs to another fateops deployment" in failure(args(tmp_path, "standalone", create=True))
    assert owner_of(tmp_path / "standalone") == f"{THEIRS}\n"
