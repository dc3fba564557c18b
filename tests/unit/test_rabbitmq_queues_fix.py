"""roles/party_native/files/fateops_rabbitmq_queues.py: FATE's RabbitMQ manager, once imported, asks again for a
queue the broker refused, for a bounded time; nothing else of it changes."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "roles" / "party_native" / "files" / "fateops_rabbitmq_queues.py"


def load_fix():
    spec = importlib.util.spec_from_file_location("fateops_rabbitmq_queues_under_test", FIX)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Manager:
    """FATE's RabbitManager as far as the fix sees it: create_queue answers True once the broker took the queue."""

    def __init__(self, refusals: int) -> None:
        self.refusals, self.calls = refusals, []

    def create_queue(self, vhost, queue_name):
        self.calls.append((vhost, queue_name))
        return len(self.calls) > self.refusals


def test_a_refused_queue_is_asked_for_again_until_taken(monkeypatch):
    fix = load_fix()
    monkeypatch.setattr(fix, "INTERVAL_S", 0.0)
    module = type(sys)("fake_rabbit_manager")
    module.RabbitManager = type("RabbitManager", (Manager,), {})
    fix.patch(module)
    manager = module.RabbitManager(refusals=3)
    assert module.RabbitManager.create_queue(manager, "v", "receive-q") is True
    assert manager.calls == [("v", "receive-q")] * 4
    taken_at_once = module.RabbitManager(refusals=0)
    assert module.RabbitManager.create_queue(taken_at_once, "v", "send-q") is True
    assert taken_at_once.calls == [("v", "send-q")]


def test_a_queue_refused_for_good_gives_up_as_fate_would(monkeypatch):
    fix = load_fix()
    monkeypatch.setattr(fix, "INTERVAL_S", 0.0)
    monkeypatch.setattr(fix, "WAIT_S", 0.05)
    module = type(sys)("fake_rabbit_manager")
    module.RabbitManager = type("RabbitManager", (Manager,), {})
    fix.patch(module)
    manager = module.RabbitManager(refusals=10**9)
    assert module.RabbitManager.create_queue(manager, "v", "q") is False
    assert len(manager.calls) > 1


def test_through_the_pth_file_fates_module_is_patched_when_imported(tmp_path):
    # A venv's site-packages as the role leaves it: the fix and its .pth beside a package of FATE's module path.
    site = tmp_path / "site-packages"
    package = site / "fate" / "arch" / "federation" / "backends" / "rabbitmq"
    package.mkdir(parents=True)
    directory = package
    while directory != site:
        (directory / "__init__.py").touch()
        directory = directory.parent
    (package / "_rabbit_manager.py").write_text(
        textwrap.dedent(
            """
            class RabbitManager:
                def create_queue(self, vhost, queue_name):
                    return True
            """
        )
    )
    (site / "fateops_rabbitmq_queues.py").write_text(FIX.read_text())
    (site / "fateops_rabbitmq_queues.pth").write_text("import fateops_rabbitmq_queues\n")
    probe = (
        "import site, sys; site.addsitedir(sys.argv[1]);"
        "from fate.arch.federation.backends.rabbitmq._rabbit_manager import RabbitManager as M;"
        "print(M.create_queue.__name__, M().create_queue('v', 'q'))"
    )
    done = subprocess.run([sys.executable, "-c", probe, str(site)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["create_queue_once_taken", "True"]
