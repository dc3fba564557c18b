"""molecule/compose run whole: guest and host as two compose projects of the fateops images on the Docker engine,
deployed by playbooks/deploy.yml (converge, idempotence changed=0, verify: each FATE-Flow answers, each broker's
route table lists both brokers, each nginx reaches the other party). In the compose lane, after test_images built
the images and wrote their record where the scenario reads it."""

from __future__ import annotations

import os

import pytest

from .conftest import TEST_CACHE
from .molecule_run import run_scenario

pytestmark = pytest.mark.integration


def test_two_compose_projects_converge_idempotently_and_verify() -> None:
    engine = os.environ.get("DOCKER_HOST") or f"unix://{TEST_CACHE / 'docker' / 'docker.sock'}"
    run_scenario("compose", DOCKER_HOST=engine, FATEOPS_IMAGES_DIR=str(TEST_CACHE / "images"))
