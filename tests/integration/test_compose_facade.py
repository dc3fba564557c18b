"""deploy with `fate_runtime: compose` (settings.yml) through the facade on a host without a Docker engine: the
failure result, one line naming the host, what it lacks and the fix, a non-zero exit, and nothing changed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .conftest import Facade

pytestmark = pytest.mark.integration


def test_compose_deploy_without_docker_fails_clearly(
    facade: Facade, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The playbooks get the caller's DOCKER_HOST: a socket nobody serves is a host without an engine, whatever
    # engine this machine runs.
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'nobody.sock'}")
    facade.base_dir = tmp_path / "parties"
    facade.settings(fate_runtime="compose")
    result = facade("-f", "deploy", "-id", "9999", "10000", "-ip", "127.0.0.1", "127.0.0.1", timeout=300)
    assert result.rc != 0
    assert result.out == "deploy failure.\n"
    errors = [line for line in result.err.splitlines() if line.startswith("fateops deploy: error:")]
    assert len(errors) == 1, result.err
    line = errors[0]
    assert line.startswith("fateops deploy: error: 127.0.0.1: ")
    lacks = "no usable Docker engine" if shutil.which("docker") else "cannot run docker"
    assert lacks in line
    assert "install Docker" in line or "install the Docker CLI" in line
    if shutil.which("docker"):
        # This checkout's own way to start an engine.
        assert "make docker" in line
    # Nothing half done: no deployment recorded, nothing made on the host.
    assert facade.state() == {}
    assert not (tmp_path / "parties").exists()
