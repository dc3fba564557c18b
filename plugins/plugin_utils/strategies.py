"""The strategies of this collection: Ansible's own, with Mitogen's connection multiplexer when it is installed.

Mitogen for Ansible keeps one Python interpreter per host for the whole run and hands each task's module to it,
instead of a new ssh session, a new interpreter and a fresh import of the module and its module_utils per task.
It does so through a strategy plugin (its StrategyMixin wraps the connection and action loaders while the play
runs), so the plays of this collection name these strategies; without the mitogen package they are Ansible's.
"""

from __future__ import annotations

import importlib


def strategy_module(name: str) -> type:
    """The strategy class for Ansible's built-in strategy `name`, through Mitogen when it can be imported."""
    base = importlib.import_module(f"ansible.plugins.strategy.{name}").StrategyModule
    try:
        from ansible_mitogen.strategy import StrategyMixin
    except ImportError:
        return base
    return type("StrategyModule", (StrategyMixin, base), {"__doc__": f"Ansible's {name} strategy through Mitogen."})
