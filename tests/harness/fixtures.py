"""pytest fixtures for the netns test hosts; a conftest makes them available with
`from tests.harness.fixtures import netns_harness, netns_hosts  # noqa: F401`.

Settings (environment): FATEOPS_TEST_HOSTS (how many, default 4: enough for two parties, three, or a star
through an exchange), FATEOPS_TEST_NETNS_PREFIX (default "fot"), FATEOPS_TEST_SUBNET (default 10.77.1.0/24),
FATEOPS_TEST_USER (default fateops-pytest). The defaults differ from hosts.py's (fo, 10.77.0.0/24, fateops-test),
so tests can run while hosts made by `hosts.py up` exist.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from tests.harness.netns_hosts import Harness, HarnessConfig, TestHost, down, up


def fixture_config() -> HarnessConfig:
    return HarnessConfig(
        count=int(os.environ.get("FATEOPS_TEST_HOSTS", "4")),
        prefix=os.environ.get("FATEOPS_TEST_NETNS_PREFIX", "fot"),
        subnet=os.environ.get("FATEOPS_TEST_SUBNET", "10.77.1.0/24"),
        user=os.environ.get("FATEOPS_TEST_USER", "fateops-pytest"),
    )


@pytest.fixture(scope="session")
def netns_harness() -> Iterator[Harness]:
    """The test hosts, up for the whole session and removed after it (also after a failed or interrupted run)."""
    if os.geteuid() != 0:
        pytest.fail("the multi-host tests need root (network namespaces, a bridge, sshd); run them as root", False)
    yield from hosts_while_used(up, down, fixture_config(), "netns test hosts")


def hosts_while_used(start: Callable, remove: Callable, config: object, what: str) -> Iterator:
    """A fixture's body: the hosts start(config) makes, removed by remove(config) after the fixture's scope (also
    after a failed or interrupted run); a harness that cannot start fails the test with its one line."""
    try:
        harness = start(config)
    except RuntimeError as exc:
        pytest.fail(f"{what}: {exc}", False)
    try:
        yield harness
    finally:
        remove(config)


@pytest.fixture(scope="session")
def netns_hosts(netns_harness: Harness) -> list[TestHost]:
    return netns_harness.hosts
