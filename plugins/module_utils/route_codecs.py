# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""Route tables as text and back: serialize, parse, list the routes, merge with a table on disk, compare.

:func:`serialize_table` writes a rendered table (``route_render``) canonically: the same table always gives the
same text, whatever its key order. :func:`parse_table` reads a file back into that data, so a table on disk can be
merged with the rendered one without dropping routes that were added by hand (:func:`merge_tables`) and compared
by meaning rather than by text (:func:`tables_equal`). The nginx text (map and server block) is written here and
only here.

Standard library only, so the YAML of the RabbitMQ table is written and read here by a small reader of exactly
that shape: it runs inside Ansible modules on party hosts and in the controller alike.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ansible_collections.fateops.federation.plugins.module_utils.route_model import RouteTableError, check_port
from ansible_collections.fateops.federation.plugins.module_utils.route_render import (
    DEFAULT_KEY,
    FATEFLOW_ROLE,
    check_format,
)

# nginx turns the dest-party-id request header into this variable (lower case, dashes become underscores).
NGINX_HEADER_VARIABLE = "$http_dest_party_id"
NGINX_UPSTREAM_VARIABLE = "$fate_flow_upstream"


class TableParseError(RouteTableError):
    """A route table file cannot be read as its format."""


_PARTY_ID_TEXT = re.compile(r"[1-9][0-9]*")


def _party_order(key: Any) -> tuple[int, int, str]:
    text = str(key)
    if text == DEFAULT_KEY:
        return (0, 0, text)
    if _PARTY_ID_TEXT.fullmatch(text):
        return (1, int(text), text)
    return (2, 0, text)


def _first(order: Iterable[str], keys: Iterable[str]) -> list[str]:
    """`keys` with those named in `order` first, in that order, then the rest sorted."""
    keys = list(keys)
    head = [key for key in order if key in keys]
    return head + sorted(key for key in keys if key not in head)


def _canonical_route_json(table: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in _first(("route_table", "self_party", "permission"), table):
        value = table[key]
        if key == "route_table" and isinstance(value, Mapping):
            value = {party: _canonical_roles(value[party]) for party in sorted(value, key=_party_order)}
        elif key == "self_party" and isinstance(value, list):
            value = sorted(value, key=_party_order)
        out[key] = value
    return out


def _canonical_roles(roles: Any) -> Any:
    if not isinstance(roles, Mapping):
        return roles
    return {
        role: [
            {key: entry[key] for key in _first(("ip", "port"), entry)} if isinstance(entry, Mapping) else entry
            for entry in roles[role]
        ]
        if isinstance(roles[role], list)
        else roles[role]
        for role in _first((DEFAULT_KEY, FATEFLOW_ROLE), roles)
    }


_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", ""}


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return json.dumps(value)
    if isinstance(value, str):
        # Plain only where no YAML reader can take it for a number, a boolean, a date or null: a name that
        # starts with a letter, or a dotted address. Everything else is double-quoted (JSON escapes are YAML's).
        plain_name = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", value) and value.lower() not in _YAML_WORDS
        dotted = re.fullmatch(r"[0-9]+(\.[0-9]+){2,}", value)
        # ASCII escapes keep every character on its line: no Unicode line separator can split a value.
        return value if plain_name or dotted else json.dumps(value, ensure_ascii=True)
    raise RouteTableError(f"{value!r} cannot be written to the RabbitMQ route table; use text or a number")


def _serialize_rabbitmq(table: Mapping[str, Any]) -> str:
    if not table:
        return "{}\n"
    lines: list[str] = []
    for party in sorted(table, key=_party_order):
        # Party ids stay plain so that YAML readers (FATE's) load them as the integers FATE looks up.
        key = str(party) if _PARTY_ID_TEXT.fullmatch(str(party)) else json.dumps(str(party), ensure_ascii=True)
        value = table[party]
        if not isinstance(value, Mapping) or not value:
            raise RouteTableError(
                f"route of party {party} in the RabbitMQ table is {value!r}; give a mapping with host and port"
            )
        lines.append(f"{key}:")
        for name in _first(("host", "port"), value):
            if isinstance(value[name], (Mapping, list)):
                raise RouteTableError(f"{party}.{name} of the RabbitMQ table is nested; give host and port only")
            lines.append(f"  {_yaml_scalar(str(name))}: {_yaml_scalar(value[name])}")
    return "\n".join(lines) + "\n"


_NGINX_TOKEN = re.compile(r"[A-Za-z0-9_.:\[\]-]+")


def _nginx_value(value: str) -> str:
    if value == "":
        return '""'
    if _NGINX_TOKEN.fullmatch(value):
        return value
    raise RouteTableError(f"nginx route value {value!r} is not an address; give host:port")


def _serialize_nginx(table: Mapping[str, Any]) -> str:
    routes = table.get("routes") or {}
    listen = table.get("listen")
    check_port(listen, "the nginx listen port")
    lines = [
        "# FATE-Flow coordination between parties, written by fateops.federation.fate_route_table.",
        "# FATE-Flow names the party a call is for in its dest-party-id header; this maps it to an upstream.",
        f"map {NGINX_HEADER_VARIABLE} {NGINX_UPSTREAM_VARIABLE} {{",
    ]
    for key in sorted((k for k in routes if k != DEFAULT_KEY), key=_party_order):
        if not _NGINX_TOKEN.fullmatch(str(key)):
            raise RouteTableError(f"nginx route key {key!r} is not a party id; give party ids as numbers")
        lines.append(f"    {key} {_nginx_value(routes[key])};")
    lines.append(f"    {DEFAULT_KEY} {_nginx_value(routes.get(DEFAULT_KEY, ''))};")
    lines += [
        "}",
        "",
        "server {",
        f"    listen {listen};",
        "    server_name _;",
        "    default_type text/plain;",
        # Model files and data can be large; FATE-Flow, not nginx, decides what it accepts.
        "    client_max_body_size 0;",
        "    location / {",
        f'        if ({NGINX_UPSTREAM_VARIABLE} = "") {{',
        f"            return 404 \"no FATE-Flow route for dest-party-id '{NGINX_HEADER_VARIABLE}' on this nginx: "
        'add that party to the federation and render its route tables again\\n";',
        "        }",
        "        proxy_http_version 1.1;",
        f"        proxy_pass http://{NGINX_UPSTREAM_VARIABLE};",
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def serialize_table(table_format: str, table: Mapping[str, Any]) -> str:
    """The canonical text of a table: the same table always gives the same text, whatever its key order."""
    check_format(table_format)
    if table_format in ("rollsite", "osx"):
        return json.dumps(_canonical_route_json(table), indent=2, ensure_ascii=False) + "\n"
    if table_format == "rabbitmq":
        return _serialize_rabbitmq(table)
    return _serialize_nginx(table)


# ---------------------------------------------------------------------------------------------------- parsing

_FIX_HINT = "fix the file, or set exclusive=true to replace it"


def _parse_route_json(text: str, table_format: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise TableParseError(f"not valid JSON ({exc}); {_FIX_HINT}") from None
    if not isinstance(data, dict):
        raise TableParseError(f"the top level is not a JSON object; {_FIX_HINT}")
    routes = data.get("route_table")
    if not isinstance(routes, dict):
        raise TableParseError(f"no 'route_table' object; {_FIX_HINT}")
    for party, roles in routes.items():
        if not isinstance(roles, dict):
            raise TableParseError(f"route_table.{party} is not an object of roles; {_FIX_HINT}")
        for role, entries in roles.items():
            if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
                raise TableParseError(f"route_table.{party}.{role} is not a list of endpoints; {_FIX_HINT}")
    if table_format == "osx" and "self_party" in data:
        self_party = data["self_party"]
        if not isinstance(self_party, list) or not all(isinstance(item, (str, int)) for item in self_party):
            raise TableParseError(f"self_party is not a list of party ids; {_FIX_HINT}")
    return data


def _yaml_value(text: str, line_number: int) -> Any:
    text = text.strip()
    if text.startswith('"'):
        try:
            return json.loads(text)
        except ValueError:
            raise TableParseError(f"line {line_number}: bad double-quoted text {text}; {_FIX_HINT}") from None
    if text.startswith("'"):
        if len(text) < 2 or not text.endswith("'"):
            raise TableParseError(f"line {line_number}: unterminated quoted text {text}; {_FIX_HINT}")
        return text[1:-1].replace("''", "'")
    if text[:1] in "[{&*!|>%@`":
        raise TableParseError(
            f"line {line_number}: {text!r} is YAML this reader does not take; write plain 'key: value' lines "
            f"like FATE's example, or set exclusive=true to replace the file"
        )
    lowered = text.lower()
    if lowered in ("", "~", "null"):
        return None
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    if re.fullmatch(r"[-+]?[0-9]+", text):
        return int(text)
    if re.fullmatch(r"[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?", text):
        return float(text)
    return text


def _strip_yaml_comment(line: str) -> str:
    quote = ""
    index = 0
    while index < len(line):
        char = line[index]
        if quote:
            if char == "\\" and quote == '"':
                index += 1  # an escaped character, even a quote, does not end the text
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1] in " \t"):
            return line[:index]
        index += 1
    return line


def _split_yaml_key(line: str, line_number: int) -> tuple[str, str]:
    match = re.fullmatch(r"""\s*("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s:'"][^:]*?)\s*:(?:\s+(.*)|\s*)""", line)
    if not match:
        raise TableParseError(f"line {line_number}: expected 'key: value', found {line.strip()!r}; {_FIX_HINT}")
    key = _yaml_value(match.group(1), line_number)
    return ("" if key is None else str(key)), (match.group(2) or "")


def parse_rabbitmq(text: str) -> dict[str, Any]:
    """FATE's rabbitmq_route_table.yaml: ``{party_id: {host, port, ...}}`` with party ids as text."""
    table: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    current_key = ""
    child_indent: int | None = None
    # YAML breaks lines at \n (and \r\n) only; str.splitlines() would also split at Unicode separators.
    lines = text.replace("\r\n", "\n").split("\n")
    content = [(number, _strip_yaml_comment(raw).rstrip()) for number, raw in enumerate(lines, start=1)]
    content = [(number, line) for number, line in content if line.strip() and line.strip() not in ("---", "...")]
    if len(content) == 1 and content[0][1].strip() == "{}":
        return {}
    for number, line in content:
        if "\t" in line[: len(line) - len(line.lstrip())]:
            raise TableParseError(f"line {number}: YAML indentation must be spaces, not tabs; {_FIX_HINT}")
        indent = len(line) - len(line.lstrip(" "))
        key, value = _split_yaml_key(line, number)
        if indent == 0:
            if value.strip():
                raise TableParseError(
                    f"line {number}: party {key} needs its host and port on indented lines below it; {_FIX_HINT}"
                )
            if key in table:
                raise TableParseError(f"line {number}: party {key} appears twice; {_FIX_HINT}")
            current, current_key, child_indent = {}, key, None
            table[key] = current
            continue
        if current is None:
            raise TableParseError(f"line {number}: an indented line before any party id; {_FIX_HINT}")
        if child_indent is None:
            child_indent = indent
        elif indent != child_indent:
            raise TableParseError(f"line {number}: indentation differs from the lines above it; {_FIX_HINT}")
        if key in current:
            raise TableParseError(f"line {number}: {current_key}.{key} appears twice; {_FIX_HINT}")
        if not value.strip():
            raise TableParseError(f"line {number}: {current_key}.{key} has no value; {_FIX_HINT}")
        current[key] = _yaml_value(value, number)
    for key, value in table.items():
        if not value:
            raise TableParseError(f"party {key} has no host and port; {_FIX_HINT}")
    return table


def _strip_nginx_comments(text: str) -> str:
    out: list[str] = []
    for line in text.splitlines():
        quote = ""
        kept = line
        for index, char in enumerate(line):
            if quote:
                if char == quote:
                    quote = ""
            elif char in "\"'":
                quote = char
            elif char == "#":
                kept = line[:index]
                break
        out.append(kept)
    return "\n".join(out)


def parse_nginx(text: str) -> dict[str, Any]:
    """The routes of an nginx snippet written by :func:`serialize_table`: its listen port and its
    ``map $http_dest_party_id`` entries. Other directives are the renderer's, not data."""
    body = _strip_nginx_comments(text)
    mapping = re.search(r"\bmap\s+\$http_dest_party_id\s+\$\w+\s*\{([^{}]*)\}", body)
    if not mapping:
        raise TableParseError(f"no 'map $http_dest_party_id' block: fate_route_table did not write this; {_FIX_HINT}")
    routes: dict[str, str] = {}
    for statement in mapping.group(1).split(";"):
        words = statement.split()
        if not words:
            continue
        if len(words) != 2:
            raise TableParseError(f"map entry {statement.strip()!r} is not 'party_id address;'; {_FIX_HINT}")
        key, value = words
        if value in ('""', "''"):
            value = ""
        elif value[:1] in "\"'" and value[-1:] == value[:1]:
            value = value[1:-1]
        if key in routes:
            raise TableParseError(f"party {key} appears twice in the map; {_FIX_HINT}")
        routes[key] = value
    listen_match = re.search(r"^\s*listen\s+(?:\S*:)?([0-9]+)\b[^;]*;", body[mapping.end() :], re.MULTILINE)
    listen = int(listen_match.group(1)) if listen_match else None
    if routes.get(DEFAULT_KEY) == "":
        # `default "";` is how the renderer writes "no default route".
        del routes[DEFAULT_KEY]
    return {"listen": listen, "routes": routes}


def parse_table(table_format: str, text: str) -> dict[str, Any]:
    """Read a table file's text back into the data the renderers produce. Raises TableParseError."""
    check_format(table_format)
    if table_format in ("rollsite", "osx"):
        return _parse_route_json(text, table_format)
    if table_format == "rabbitmq":
        return parse_rabbitmq(text)
    return parse_nginx(text)


@dataclass(frozen=True)
class RouteEntry:
    """One route of a table: to `party` (an id, or "default") for `role`, reach `host`:`port`.

    `role` is the table's own role key for rollsite and osx ("default", "fateflow", ...), "http" for nginx and
    "broker" for RabbitMQ. `attributes` holds the entry's other keys as found (protocol, useSSL, caFile, ...).
    """

    party: str
    role: str
    host: str
    port: int | None
    attributes: tuple[tuple[str, Any], ...] = ()


def _split_address(address: str) -> tuple[str, int | None]:
    match = re.fullmatch(r"\[(.+)\]:([0-9]+)|([^:]+):([0-9]+)", address)
    if not match:
        return address, None
    host = match.group(1) or match.group(3)
    return host, int(match.group(2) or match.group(4))


def route_entries(table_format: str, table: Mapping[str, Any]) -> list[RouteEntry]:
    """Every route of a table, in canonical order."""
    check_format(table_format)
    entries: list[RouteEntry] = []
    if table_format in ("rollsite", "osx"):
        routes = _canonical_route_json(table).get("route_table", {})
        for party, roles in routes.items():
            for role, endpoints in roles.items():
                for endpoint in endpoints:
                    attributes = tuple((k, v) for k, v in endpoint.items() if k not in ("ip", "port"))
                    entries.append(RouteEntry(party, role, endpoint.get("ip", ""), endpoint.get("port"), attributes))
    elif table_format == "nginx":
        routes = table.get("routes") or {}
        for party in sorted(routes, key=_party_order):
            host, port = _split_address(routes[party])
            entries.append(RouteEntry(party, "http", host, port))
    else:
        for party in sorted(table, key=_party_order):
            value = dict(table[party])
            attributes = tuple((k, value[k]) for k in sorted(value) if k not in ("host", "port"))
            entries.append(RouteEntry(str(party), "broker", value.get("host", ""), value.get("port"), attributes))
    return entries


# ------------------------------------------------------------------------------------------ merging, comparing


def _routes(table_format: str, table: dict[str, Any]) -> dict[str, Any]:
    """The party-keyed part of a table, the one object in it that merges route by route."""
    if table_format in ("rollsite", "osx"):
        return table.setdefault("route_table", {})
    if table_format == "nginx":
        return table.setdefault("routes", {})
    return table


def merge_tables(
    table_format: str,
    existing: Mapping[str, Any] | None,
    rendered: Mapping[str, Any],
    owned_party_ids: Iterable[int | str],
    exclusive: bool = False,
) -> dict[str, Any]:
    """The rendered table merged into the existing one.

    The model owns the routes of every party in `owned_party_ids` (the federation) and every key the rendered
    table has ("default" in a star): those are replaced by the rendered ones, or dropped when the rendered table
    has none (a party reached through the exchange). Every other route of `existing` (added by hand) is kept,
    and so is a hand-set ``permission``, unless `exclusive`, which gives the rendered table alone.
    """
    check_format(table_format)
    if exclusive or existing is None:
        return copy.deepcopy(dict(rendered))
    merged = copy.deepcopy(dict(existing))
    rendered_copy = copy.deepcopy(dict(rendered))
    rendered_routes = _routes(table_format, rendered_copy)
    owned = {str(party_id) for party_id in owned_party_ids} | set(rendered_routes)
    routes = _routes(table_format, merged)
    for key in [key for key in routes if str(key) in owned]:
        del routes[key]
    routes.update(rendered_routes)
    if table_format in ("rollsite", "osx") and "permission" in rendered_copy:
        merged.setdefault("permission", rendered_copy["permission"])
    if table_format == "osx":
        kept = [str(item) for item in existing.get("self_party") or [] if str(item) not in owned]
        merged["self_party"] = sorted(set(kept) | set(rendered_copy.get("self_party") or []), key=_party_order)
    if table_format == "nginx":
        merged["listen"] = rendered_copy.get("listen")
    return merged


def remove_parties(table_format: str, existing: Mapping[str, Any], party_ids: Iterable[int | str]) -> dict[str, Any]:
    """The existing table without the routes of these parties (and, for osx, without them in self_party)."""
    check_format(table_format)
    removed = {str(party_id) for party_id in party_ids}
    result = copy.deepcopy(dict(existing))
    routes = _routes(table_format, result)
    for key in [key for key in routes if str(key) in removed]:
        del routes[key]
    if table_format == "osx" and "self_party" in result:
        result["self_party"] = [item for item in result["self_party"] if str(item) not in removed]
    return result


def _normalized(table_format: str, table: Mapping[str, Any]) -> Any:
    data = copy.deepcopy(dict(table))
    if table_format == "osx" and isinstance(data.get("self_party"), list):
        # self_party is a set of ids; OSX does not care about their order or whether they are text or numbers.
        data["self_party"] = sorted({str(item) for item in data["self_party"]}, key=_party_order)
    if table_format == "rabbitmq":
        data = {str(key): value for key, value in data.items()}
    if table_format == "nginx":
        routes = dict(data.get("routes") or {})
        if routes.get(DEFAULT_KEY) == "":
            del routes[DEFAULT_KEY]
        data["routes"] = {str(key): value for key, value in routes.items()}
    return data


def tables_equal(table_format: str, first: Mapping[str, Any], second: Mapping[str, Any]) -> bool:
    """True when two tables route the same way: key order, whitespace and formatting do not count."""
    check_format(table_format)
    return _normalized(table_format, first) == _normalized(table_format, second)
