"""The molecule scenarios of the native runtime, each run whole: molecule/default (the party roles on this host:
converge, idempotence changed=0, verify) and molecule/multiparty (two parties on two netns hosts over ssh through
playbooks/deploy.yml). A lane of their own: their ports, base dirs and test hosts are no other lane's."""

from __future__ import annotations

import pytest

from .molecule_run import run_scenario

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("scenario", ["default", "multiparty"])
def test_the_scenario_converges_idempotently_and_verifies(scenario: str) -> None:
    run_scenario(scenario)
