"""molecule/compose run whole: guest and host as two compose projects of the fateops images on the Docker engine,
deployed by playbooks/deploy.yml (converge, idempotence changed=0, verify: each FATE-Flow answers, each broker's
route table lists both brokers, each nginx reaches the other party), on the images the session built
(conftest.fateops_images), whose record the scenario reads."""

from __future__ import annotations

import pytest

from .conftest import IMAGES_CACHE, docker_engine
from .molecule_run import run_scenario

pytestmark = pytest.mark.integration


def test_two_compose_projects_converge_idempotently_and_verify(fateops_images: dict) -> None:
    run_scenario("compose", DOCKER_HOST=docker_engine(), FATEOPS_IMAGES_DIR=str(IMAGES_CACHE))
