"""The offline bundle's pieces: release checks, the flat repository's index, the host's and the controller's module."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from ansible_collections.fateops.federation.plugins.module_utils import offline_bundle
from ansible_collections.fateops.federation.plugins.modules import fate_host_packages, fate_offline_bundle
from module_runner import module_exits, run_module  # noqa: F401

BOOKWORM = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n'
JAMMY = 'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nID=ubuntu\nVERSION_ID="22.04"\nVERSION_CODENAME=jammy\n'


def test_os_release_fields_lose_their_quotes() -> None:
    fields = offline_bundle.parse_os_release(BOOKWORM + "# a comment\nBROKEN\n")
    assert fields == {
        "PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)",
        "NAME": "Debian GNU/Linux",
        "VERSION_ID": "12",
        "ID": "debian",
    }


def test_only_the_bundles_release_can_install_it() -> None:
    assert offline_bundle.release_problem(offline_bundle.parse_os_release(BOOKWORM), "bookworm") is None
    why = offline_bundle.release_problem(offline_bundle.parse_os_release(JAMMY), "bookworm")
    assert why == "the host runs Ubuntu 22.04.4 LTS, and the offline bundle is built for Debian 12 (bookworm) only"
    assert "no /etc/os-release" in offline_bundle.release_problem({}, "bookworm")


@pytest.mark.parametrize("name", ["Nginx", "-rf", "a", "nginx;id", "../x"])
def test_package_names_are_checked(name: str) -> None:
    with pytest.raises(offline_bundle.BundleError, match="not Debian package names"):
        offline_bundle.validate_packages(["nginx", name])


@pytest.mark.parametrize(
    "mirror", ["http://m/debian bookworm main\ndeb http://evil", "ftp://m", "[trusted=yes] http://m"]
)
def test_a_mirror_is_one_url(tmp_path: Path, mirror: str) -> None:
    with pytest.raises(offline_bundle.BundleError, match="is not one http"):
        offline_bundle.debian_part(tmp_path, "bookworm", mirror, ["nginx"])
    assert list(tmp_path.iterdir()) == []


def _deb(root: Path, name: str, version: str) -> Path:
    tree = root / f"{name}-tree"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: test\n"
    )
    deb = root / f"{name}.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(tree), str(deb)], check=True, capture_output=True)
    return deb


def test_the_flat_repositorys_index_names_every_file_with_its_digest(tmp_path: Path) -> None:
    debs = [_deb(tmp_path, "fateops-a", "1:2.0-1"), _deb(tmp_path, "fateops-b", "0.1")]
    index = offline_bundle.debian_packages_index(debs)
    assert "Package: fateops-a\n" in index and "Filename: ./fateops-a.deb\n" in index
    assert f"Size: {debs[1].stat().st_size}\n" in index
    assert offline_bundle.read_index(index) == {
        "fateops-a": {"version": "1:2.0-1", "file": "fateops-a.deb"},
        "fateops-b": {"version": "0.1", "file": "fateops-b.deb"},
    }


def test_wheels_need_the_releases_python(tmp_path: Path) -> None:
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\necho 3.9\n")
    python.chmod(0o755)
    pins = tmp_path / "requirements.txt"
    pins.write_text("six==1.17.0\n")
    with pytest.raises(
        offline_bundle.BundleError, match=r"Python 3\.9, but Debian 12 \(bookworm\) hosts run Python 3\.11"
    ):
        offline_bundle.wheels_part(tmp_path / "bundles", str(python), [{"file": str(pins)}], [], "bookworm")
    assert not any((tmp_path / "bundles").glob("*/.complete"))


def _problem(missing: list[str], runtime_missing: bool = False, os_release: str = BOOKWORM, offline: bool = True):
    params = {"offline": offline, "release": "bookworm"}
    return fate_host_packages.problem(
        params, missing, runtime_missing, offline_bundle.parse_os_release(os_release), has_dpkg=True
    )


def test_a_host_of_another_release_is_refused_only_when_it_lacks_something(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert _problem([], os_release=JAMMY) is None
    assert _problem(["nginx"], os_release=BOOKWORM) is None
    assert _problem(["nginx"], runtime_missing=True, os_release=JAMMY) == (
        "the host runs Ubuntu 22.04.4 LTS, and the offline bundle is built for Debian 12 (bookworm) only; it lacks "
        "nginx, the FATE runtime: use such a host, or set fate_offline: false to install from its own index"
    )
    # With its own index the release is the host's business.
    assert _problem(["nginx"], os_release=JAMMY, offline=False) is None


def test_installing_needs_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "installing them needs root: deploy once as root (-u root)" in _problem(["rabbitmq-server"])
    assert _problem([], runtime_missing=True) is None  # the runtime is the user's own to build


def test_the_host_check_reports_what_is_missing(tmp_path: Path) -> None:
    outcome, result = run_module(
        fate_host_packages.main,
        {"packages": ["dpkg", "fateops-not-a-package"], "runtime_marker": str(tmp_path / ".complete")},
    )
    assert outcome == "exit" and not result["changed"], result
    assert result["missing"] == ["fateops-not-a-package"]
    assert "dpkg" in result["installed"] and result["runtime_missing"] is True
    assert result["bundle"] == ["debian", "wheels"]


def test_present_in_check_mode_reports_the_install_and_runs_no_apt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fate_host_packages, "install", lambda *_: pytest.fail("apt ran in check mode"))
    outcome, result = run_module(
        fate_host_packages.main,
        {"packages": ["fateops-not-a-package"], "state": "present", "repo": "/nonexistent"},
        check=True,
    )
    assert (outcome, result["changed"]) == ("exit", True), result


def test_present_without_the_shipped_repository_fails_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    outcome, result = run_module(
        fate_host_packages.main, {"packages": ["fateops-not-a-package"], "state": "present", "repo": "/nonexistent"}
    )
    assert (
        outcome == "fail" and result["msg"] == "no offline repository at /nonexistent: deploy again to ship the bundle"
    )


def test_the_bundle_in_check_mode_builds_nothing(tmp_path: Path) -> None:
    outcome, result = run_module(
        fate_offline_bundle.main, {"dir": str(tmp_path / "b"), "packages": ["nginx"]}, check=True
    )
    assert (outcome, result["changed"]) == ("exit", True)
    assert not (tmp_path / "b").exists()


def test_the_bundle_refuses_a_bad_package_name_or_a_missing_pin_file(tmp_path: Path) -> None:
    outcome, result = run_module(
        fate_offline_bundle.main, {"dir": str(tmp_path), "parts": ["debian"], "packages": ["nginx", "x;y"]}
    )
    assert outcome == "fail" and "'x;y': not Debian package names" in result["msg"]
    outcome, result = run_module(
        fate_offline_bundle.main,
        {"dir": str(tmp_path), "parts": ["wheels"], "requirements": [{"file": str(tmp_path / "no.txt")}]},
    )
    assert outcome == "fail" and result["msg"] == f"offline bundle: requirement file {tmp_path / 'no.txt'} is not there"


def test_the_default_bundle_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert fate_offline_bundle.default_dir() == Path("/var/cache/fateops/bundles")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert fate_offline_bundle.default_dir() == tmp_path / "fateops" / "bundles"
