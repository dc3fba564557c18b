"""Imported by every Python of a native FATE instance's venv (FATE-Flow and its task processes), from a .pth file.

FATE 2.2's RabbitMQ federation makes a session's vhost and, at once, its queues through the broker's management
API, and does not look at the answers. A broker that is still starting the new vhost refuses the queue (its log
says "Declare queue error ... queue_supervisor_not_found"); the queue is never made, and the task that consumes
from it fails with NOT_FOUND - no queue. Here a refused queue is asked for again until the broker takes it, for at
most WAIT_S seconds; FATE's code is otherwise left as it is.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import time

MODULE = "fate.arch.federation.backends.rabbitmq._rabbit_manager"
WAIT_S = 30.0
INTERVAL_S = 0.2


def patch(module) -> None:
    """Make module.RabbitManager.create_queue try again while the broker refuses the queue."""
    manager = module.RabbitManager
    create_queue = manager.create_queue

    def create_queue_once_taken(self, vhost, queue_name):
        deadline = time.monotonic() + WAIT_S
        while not create_queue(self, vhost, queue_name):
            if time.monotonic() >= deadline:
                return False
            time.sleep(INTERVAL_S)
        return True

    manager.create_queue = create_queue_once_taken


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, loader) -> None:
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        self._loader.exec_module(module)
        patch(module)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds FATE's RabbitMQ manager where Python would, and patches it once it is loaded."""

    def find_spec(self, name, path, target=None):
        if name != MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = _PatchingLoader(spec.loader)
        return spec


if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
    sys.meta_path.insert(0, _Finder())
