"""The facade's input rules: every value a user hands the controller is checked here before anything runs.

Party ids and model ids follow FATE's rules in module_utils/fate_ids.py, which party hosts apply again; here a
bad value becomes a UsageError (nothing was changed). Addresses must name one host; names become FATE
namespaces and service ids, so they stay within ASCII.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml
from ansible_collections.fateops.federation.plugins.module_utils import fate_ids

from fateops import ROOT
from fateops.errors import UsageError

NAME_MAX_LENGTH = 128
# ASCII only (str.isalnum takes any script's letters); a leading '-' would read as a flag wherever it is passed.
_NAME = re.compile(rf"[A-Za-z0-9_][A-Za-z0-9_\-]{{0,{NAME_MAX_LENGTH - 1}}}")
# IPv4 blocks that never name one host: "this network" (0/8) and the reserved class E (240/4, with the limited
# broadcast 255.255.255.255).
_NOT_A_HOST_V4 = (ipaddress.ip_network("0.0.0.0/8"), ipaddress.ip_network("240.0.0.0/4"))


def parse_party_id(value: Any, what: str = "party id") -> int:
    try:
        return fate_ids.party_id(value, what)
    except fate_ids.IdError as exc:
        raise UsageError(str(exc)) from None


def check_model_name(value: Any, what: str) -> str:
    """A model id, model version or job id (what: the flag or field that gave it, named in the error)."""
    try:
        return fate_ids.model_name(value, what)
    except fate_ids.IdError as exc:
        raise UsageError(str(exc)) from None


def _host_address_problem(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if address.is_unspecified:
        return "the unspecified address (any address, not a host)"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address):
        if address == ipaddress.IPv4Address("255.255.255.255"):
            return "the broadcast address"
        if any(address in network for network in _NOT_A_HOST_V4):
            return "a reserved address that no host has"
    elif address.ipv4_mapped is not None:
        return _host_address_problem(address.ipv4_mapped)
    return None


def parse_ip(value: Any, what: str = "host address") -> str:
    """One host's unicast IPv4 or IPv6 address, in its canonical form. Loopback is allowed (one-host setups)."""
    try:
        address = ipaddress.ip_address(value) if isinstance(value, str) else None
    except ValueError:
        address = None
    if address is None:
        raise UsageError(f"{what} {value!r} is not an IP address; give each host as an IPv4 or IPv6 address")
    problem = _host_address_problem(address)
    if problem:
        raise UsageError(
            f"{what} {value} is {problem}; give the unicast address of the host itself, such as 192.0.2.10 "
            "(127.0.0.1 for this host)"
        )
    return str(address)


def check_name(value: Any, what: str, flag: str) -> str:
    """A project or service name: ASCII letters, digits, '_' and '-', not starting with '-'."""
    if not value:
        raise UsageError(f"no {what} given; pass {flag} NAME")
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise UsageError(
            f"{what} {value!r} may hold only ASCII letters, digits, '_' and '-', must not start with '-' and has at "
            f"most {NAME_MAX_LENGTH} characters; pass {flag} with such a name"
        )
    return value


# A login name as useradd takes it by default: it becomes ssh's -l and an inventory value, so no spaces, no '@'
# and no leading '-' (ssh would read an option).
_USER = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")


def check_user(value: Any, what: str = "-u") -> str:
    """An ssh login name."""
    if not isinstance(value, str) or not _USER.fullmatch(value):
        raise UsageError(
            f"{what} {value!r} is not a login name (ASCII letters, digits, '_', '.' and '-', starting with a letter "
            "or '_', at most 32 characters); pass the ssh user of the host, such as root"
        )
    return value


def check_project(value: Any) -> str:
    return check_name(value, "project", "-proj")


def check_service_name(value: Any) -> str:
    return check_name(value, "service name", "-mname")


# --- Shapes and the values they take ---------------------------------------------------------------------------
# A shape is a Leaf, _Each (a mapping of any keys to one shape) or a one-element list (a list of that shape). The
# leaves are also what state.json's typed records (fateops/contracts.py) accept, so a value has one rule.


@dataclass(frozen=True)
class Leaf:
    what: str
    accepts: Callable[[Any], bool]


@dataclass(frozen=True)
class _Each:
    values: Any
    keys: Leaf | None = None


def _accepts(check: Callable[[Any], Any]) -> Callable[[Any], bool]:
    def accepts(value: Any) -> bool:
        try:
            check(value)
        except UsageError:
            return False
        return True

    return accepts


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


TEXT = Leaf("a string", lambda value: isinstance(value, str))
WHOLE_NUMBER = Leaf("an integer", _is_int)
FLAG = Leaf("true or false", lambda value: isinstance(value, bool))
PORT = Leaf("a port number from 1 to 65535", lambda value: _is_int(value) and 0 < value < 65536)
PARTY_ID = Leaf("a party id", _accepts(parse_party_id))
ADDRESS = Leaf("a host's IP address", _accepts(parse_ip))
MODEL_NAME = Leaf("a FATE id", _accepts(lambda value: check_model_name(value, "id")))
ANY = Leaf("anything", lambda value: True)
OBJECT = Leaf("an object", lambda value: isinstance(value, dict))


def shape_problem(value: Any, shape: Any, where: str = "") -> str | None:
    """The first place where value does not have the shape, as "<key> <what is wrong>"; None when it has it."""
    here = where or "the top level"
    if isinstance(shape, Leaf):
        return None if shape.accepts(value) else f"{here} is {show(value)}, not {shape.what}"
    if isinstance(shape, list):
        if not isinstance(value, list):
            return f"{here} is {show(value)}, not a list"
        return next((p for i, item in enumerate(value) if (p := shape_problem(item, shape[0], f"{where}[{i}]"))), None)
    if not isinstance(value, dict):
        return f"{here} is {show(value)}, not an object"
    for key, item in value.items():
        if shape.keys is not None and not shape.keys.accepts(key):
            return f"{here} has the key {show(key)}, which is not {shape.keys.what}"
        problem = shape_problem(item, shape.values, _key(where, key))
        if problem:
            return problem
    return None


def _key(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)


def show(value: Any) -> str:
    text = json.dumps(value, default=str, ensure_ascii=True)
    return text if len(text) <= 40 else text[:37] + "..."


# --- settings.yml ---------------------------------------------------------------------------------------------
# Role variables are typed by the roles' meta/argument_specs.yml (read from there, not repeated here); these are
# the variables the controller itself reads, or reads with a stricter rule. Unknown keys pass as inventory
# variables.


def _ascii_int(value: Any) -> int | None:
    if _is_int(value):
        return value
    return int(value) if isinstance(value, str) and value.isascii() and value.isdigit() else None


def _setting_port(value: Any) -> bool:
    number = _ascii_int(value)
    return number is not None and 0 < number < 65536


def _non_negative(value: Any) -> bool:
    number = _ascii_int(value)
    return number is not None and number >= 0


INTEGER = Leaf("an integer", lambda value: _ascii_int(value) is not None)
POSITIVE = Leaf("a positive integer", lambda value: (_ascii_int(value) or 0) > 0)
NON_NEGATIVE = Leaf("an integer of 0 or more", _non_negative)
SETTING_PORT = Leaf("a port number from 1 to 65535", _setting_port)
NUMBER = Leaf("a number", lambda value: _is_int(value) or isinstance(value, float))
# Ansible's bool type takes these spellings too.
_BOOLEAN_WORDS = {"yes", "no", "true", "false", "on", "off", "1", "0", "y", "n"}
BOOLEAN = Leaf(
    "true or false",
    lambda value: isinstance(value, bool) or (isinstance(value, str) and value.lower() in _BOOLEAN_WORDS),
)
# Paths on party hosts: a relative one would be relative to wherever a module happens to run. They are written
# into nginx, supervisord and FATE-Flow configuration files, so they hold no spaces, quotes, newlines or other
# characters those formats would read as syntax.
_HOST_PATH = re.compile(r"/[A-Za-z0-9._+/-]*")
ABSOLUTE_PATH = Leaf(
    "an absolute path of letters, digits and . _ + - /",
    lambda value: isinstance(value, str) and _HOST_PATH.fullmatch(value) is not None,
)

# Module names the task launcher imports: written into its supervisord command line, so nothing but a dotted name.
_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
MODULE_NAME = Leaf(
    "a Python module name (letters, digits, _ and dots)",
    lambda value: isinstance(value, str) and _MODULE_NAME.fullmatch(value) is not None,
)

# Settings that hold secrets (the roles and modules use them under no_log): FATE-Flow's model store account and
# the model registry's. No inventory or file of the workspace holds a copy; a run reads them from settings.yml.
SECRET_SETTINGS = ("fate_model_store_sections", "fate_model_store")

CONTROLLER_SETTINGS: dict[str, Any] = {
    "fate_base_dir": ABSOLUTE_PATH,
    "fate_host_python": ABSOLUTE_PATH,
    "fate_topology": Leaf("mesh or star", lambda value: value in ("mesh", "star")),
    "fate_exchange_host": ADDRESS,
    "fate_exchange_user": Leaf("a login name", _accepts(check_user)),
    "fate_arbiter_party_id": PARTY_ID,
    "fate_job_options": _Each(OBJECT),
    "fate_port_step": POSITIVE,
    "fate_compose_port_step": POSITIVE,
    # Written into FATE-Flow's environment as a number.
    "fate_flow_task_threads": NON_NEGATIVE,
    "fate_task_launcher_modules": [MODULE_NAME],
}
_SPEC_TYPES = {
    "int": INTEGER,
    "float": NUMBER,
    "bool": BOOLEAN,
    "str": TEXT,
    "path": ABSOLUTE_PATH,
    "dict": OBJECT,
    "raw": ANY,
}


def _spec_shape(option: dict[str, Any]) -> Any:
    kind = option.get("type", "str")
    if kind == "list":
        element = _SPEC_TYPES.get(option.get("elements", "raw"), ANY)
        # A list of files may name the controller's own files, relative to where fateops runs.
        return [TEXT if element is ABSOLUTE_PATH else element]
    leaf = _SPEC_TYPES.get(kind, ANY)
    choices = option.get("choices")
    if choices:
        names = ", ".join(str(choice) for choice in choices)
        return Leaf(f"one of {names}", lambda value: leaf.accepts(value) and value in choices)
    return leaf


@functools.cache
def setting_options() -> dict[str, tuple[Any, Any]]:
    """Every known setting: name -> (shape, default or None), from the roles' specs and CONTROLLER_SETTINGS."""
    options: dict[str, tuple[Any, Any]] = {}
    for spec_file in sorted((ROOT / "roles").glob("*/meta/argument_specs.yml")):
        entry_points = (yaml.safe_load(spec_file.read_text()) or {}).get("argument_specs") or {}
        for entry in entry_points.values():
            for name, option in (entry.get("options") or {}).items():
                options.setdefault(name, (_spec_shape(option), option.get("default")))
    for name, shape in CONTROLLER_SETTINGS.items():
        options[name] = (shape, options.get(name, (None, None))[1])
    # The plan's own settings (its ports and runtime, with their defaults). Imported here: the plan imports this
    # module's id and address checks.
    from fateops.deployment import PORT_SETTINGS, RUNTIMES

    for name, default in PORT_SETTINGS.items():
        options[name] = (SETTING_PORT, default)
    options["fate_runtime"] = (_spec_shape({"choices": list(RUNTIMES)}), RUNTIMES[0])
    return options


def settings_problem(settings: dict[str, Any]) -> str | None:
    """The first wrongly typed known setting, as "<key> is <value>, not <what>; <fix>"; None when all are right."""
    options = setting_options()
    for name, value in settings.items():
        if name not in options:
            continue
        shape, default = options[name]
        problem = shape_problem(value, shape, name)
        if problem:
            fallback = f" (default {show(default)})" if default not in (None, "", [], {}) else ""
            return f"{problem}; give {name} such a value, or remove it to use the default{fallback}"
    return None
