"""Running an Ansible module's main() in-process, the way kubernetes.core's unit tests do.

exit_json and fail_json are patched to raise, so a test gets the module's result as a value. Test files import
`module_exits` (an autouse fixture, active in every file that imports it) and call `run_module`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


class ExitJson(Exception):
    pass


class FailJson(Exception):
    pass


@pytest.fixture(autouse=True)
def module_exits(monkeypatch: pytest.MonkeyPatch) -> None:
    def exit_json(self: Any, **kwargs: Any) -> None:
        raise ExitJson(kwargs)

    def fail_json(self: Any, **kwargs: Any) -> None:
        raise FailJson(kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)


def run_module(
    main: Callable[[], None], args: dict[str, Any], check: bool = False, diff: bool = False
) -> tuple[str, dict[str, Any]]:
    """("exit" | "fail", result) of one module run."""
    module_args = {"_ansible_check_mode": check, "_ansible_diff": diff, **args}
    with patch_module_args(module_args), pytest.raises((ExitJson, FailJson)) as outcome:
        main()
    return ("exit" if outcome.type is ExitJson else "fail"), outcome.value.args[0]
