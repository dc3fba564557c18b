"""The collection's strategies: Ansible's own order of work, through Mitogen when the mitogen package is there."""

from __future__ import annotations

import builtins
import configparser
import importlib
import sys

import pytest
import yaml
from ansible_collections.fateops.federation.plugins.plugin_utils import strategies

from tests.ansible_cli import ROOT, ansible


def builtin(name: str) -> type:
    return importlib.import_module(f"ansible.plugins.strategy.{name}").StrategyModule


@pytest.mark.parametrize("name", ["linear", "free"])
def test_each_strategy_is_ansibles_own_through_mitogen(name):
    from ansible_mitogen.strategy import StrategyMixin

    plugin = importlib.import_module(f"ansible_collections.fateops.federation.plugins.strategy.{name}")
    assert plugin.StrategyModule.__mro__[1:3] == (StrategyMixin, builtin(name))


def test_without_mitogen_the_strategy_is_ansibles(monkeypatch):
    real_import = builtins.__import__

    def no_mitogen(name, *args, **kwargs):
        if name.startswith("ansible_mitogen"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mitogen)
    assert strategies.strategy_module("free") is builtin("free")


def test_every_play_and_the_default_name_a_strategy_of_the_collection():
    config = configparser.ConfigParser()
    config.read(ROOT / "ansible.cfg")
    assert config["defaults"]["strategy"] == "fateops.federation.linear"
    for playbook in sorted((ROOT / "playbooks").glob("*.yml")):
        for play in yaml.safe_load(playbook.read_text()) or []:
            if "strategy" in play:
                assert play["strategy"].startswith("fateops.federation."), (playbook.name, play.get("name"))


@pytest.mark.parametrize("strategy", ["", "fateops.federation.free"])
def test_a_run_from_the_clone_runs_its_tasks_in_mitogens_interpreter(tmp_path, strategy):
    # The task's shell is a child of the interpreter that runs the module: Mitogen's names itself so.
    play = {"hosts": "all", "gather_facts": False, "tasks": [{"ansible.builtin.shell": "cat /proc/$PPID/cmdline"}]}
    if strategy:
        play["strategy"] = strategy
    (tmp_path / "play.yml").write_text(yaml.safe_dump([play]))
    (tmp_path / "hosts").write_text(f"here ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    run = ansible(
        "ansible-playbook", "-v", "-i", str(tmp_path / "hosts"), str(tmp_path / "play.yml"), local_temp=tmp_path
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "(mitogen:" in run.stdout
