"""deploy with `fate_runtime: compose` (settings.yml) through the facade on a host without a Docker engine: the
failure result, one line naming the host, what it lacks and the fix, a non-zero exit, and nothing changed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import Facade

pytestmark = pytest.mark.integration


def _docker_engine_answers() -> bool:
    """Whether the engine the facade's playbooks would reach answers: the runner passes no DOCKER_HOST to them,
    so they ask docker's default socket, whatever engine the test run itself was given."""
    if shutil.which("docker") is None:
        return False
    env = {key: value for key, value in os.environ.items() if key != "DOCKER_HOST"}
    return subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=30, env=env).returncode == 0


@pytest.mark.skipif(_docker_engine_answers(), reason="this host has a Docker engine; molecule/compose deploys for real")
def test_compose_deploy_without_docker_fails_clearly(facade: Facade, tmp_path: Path) -> None:
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
    # Nothing half done: no deployment recorded, nothing made on the host.
    assert facade.state() == {}
    assert not (tmp_path / "parties").exists()
