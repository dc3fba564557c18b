"""Strategy plugin linear: Ansible's linear strategy, through Mitogen when it is installed."""

from __future__ import annotations

DOCUMENTATION = r"""
name: linear
short_description: Ansible's linear strategy, with Mitogen's connection multiplexer when it is installed
description:
  - The same order of work as C(ansible.builtin.linear), which runs each task on every host
    before the next task (Ansible's default).
  - When the C(mitogen) package is installed beside ansible-core (the controller's requirements pin it), each
    host keeps one Python interpreter for the whole run and every task's module runs in it, so a task costs no new
    ssh session, interpreter start or module import. Without it, this is C(ansible.builtin.linear).
author: fateops maintainers
"""

from ansible_collections.fateops.federation.plugins.plugin_utils.strategies import strategy_module

StrategyModule = strategy_module("linear")
