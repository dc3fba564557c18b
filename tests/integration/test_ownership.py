"""Instances belong to the workspace that deployed them: another workspace's delete and deploy are refused on real
FATE, until it takes them over with fate_adopt_instances."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible_collections.fateops.federation.plugins.module_utils.host_processes import listener_of

from .conftest import Facade, fate_flow_info

pytestmark = pytest.mark.integration

PARTY = ["-id", "1", "-ip", "127.0.0.1"]
OVERRIDE = "set fate_adopt_instances: true in settings.yml"


def flow_pid() -> int:
    holder = listener_of(9380)
    assert holder is not None and holder is not True, "nothing of ours listens on 9380"
    return holder.pid


def test_another_workspace_is_refused_until_it_adopts(tmp_path: Path):
    owner = Facade(tmp_path / "a")
    other = Facade(tmp_path / "b")
    owner_file = owner.base_dir / "standalone" / "fateops-owner"
    try:
        up = owner("-f", "deploy", *PARTY)
        assert (up.rc, up.out) == (0, "deploy success.\n"), up.err
        owner_id = owner.state()["deployment"]["id"]
        assert owner_file.read_text() == f"{owner_id}\n"
        pid = flow_pid()

        for function in ("delete", "deploy"):
            refused = other("-f", function, *PARTY)
            assert (refused.rc, refused.out) == (1, f"{function} failure.\n"), refused.err
            assert f"standalone on 127.0.0.1 belongs to another fateops deployment ({owner_id})" in refused.err
            assert OVERRIDE in refused.err
            # Refused before any change: the owner's FATE-Flow runs on, the same process, and still answers.
            assert flow_pid() == pid
            assert fate_flow_info(9380)["code"] == 0
            assert owner_file.read_text() == f"{owner_id}\n"
            assert other.state().get("deployment", {}).get("parties", []) == []

        other.settings(fate_adopt_instances=True)
        adopted = other("-f", "deploy", *PARTY)
        assert (adopted.rc, adopted.out) == (0, "deploy success.\n"), adopted.err
        assert owner_file.read_text() == f"{other.state()['deployment']['id']}\n"
        assert fate_flow_info(9380)["code"] == 0
    finally:
        # The adopting workspace removes the instance whoever owns it by now.
        other.settings(fate_adopt_instances=True)
        gone = other("-f", "delete", *PARTY)
        assert (gone.rc, gone.out) == (0, "delete success.\n"), gone.err
    assert not (owner.base_dir / "standalone").exists()
