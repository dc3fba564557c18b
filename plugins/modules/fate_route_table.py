#!/usr/bin/python
# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""Write one route table of a FATE party (or of the star's exchange) from the federation's description."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: fate_route_table
short_description: Write a FATE route table (rollsite, osx, nginx, RabbitMQ) from one description of the federation
description:
  - Renders one route table for the party I(self_party_id), or for the exchange of a star when I(self_party_id) is
    not given, from the parties, the topology and the exchange, and writes it to I(path).
  - C(rollsite) is eggroll rollsite's C(route_table.json) (FATE 1.x); C(osx) is OSX's C(route_table.json)
    (FATE 2.x, with C(self_party)); C(nginx) is an nginx C(conf.d) snippet that sends FATE-Flow's calls between
    parties to the FATE-Flow named by their C(dest-party-id) header; C(rabbitmq) is FATE's
    C(conf/rabbitmq_route_table.yaml).
  - Mesh, every party routes to every other party. Star, a party knows only its own parties and the exchange;
    the exchange knows every party.
  - Merges with the file already at I(path). The routes of the parties in I(parties) (and the C(default) route the
    topology sets) belong to this module and are replaced; every other route of the file was added by hand and
    is kept, unless I(exclusive=true).
  - Reports C(changed) only when the routes change; key order, whitespace and formatting do not count, and a file
    that routes the same way is left untouched. The file is replaced atomically.
  - C(state=absent) removes the routes of the listed parties and nothing else.
version_added: "0.1.0"
author: fateops contributors
options:
  path:
    description: The route table file on the managed host. Its directory must exist.
    type: path
    required: true
  format:
    description: Which table to write.
    type: str
    required: true
    choices: [rollsite, osx, nginx, rabbitmq]
  self_party_id:
    description:
      - The party whose table this is. Parties on the same host behind the same proxy (same host and port) are
        local to it and all routed locally.
      - Leave it out for the exchange's table of a star. A mesh has no exchange, so it is required there
        (except for C(rabbitmq), the same table for every party).
    type: int
  parties:
    description:
      - Every party of the federation. Required when I(state=present).
      - With I(state=absent), the parties whose routes to remove; only I(party_id) is used.
    type: list
    elements: dict
    suboptions:
      party_id:
        description: FATE party id, a positive integer.
        type: int
        required: true
      host:
        description: Address the other parties reach this party at. Required when I(state=present).
        type: str
      flow_http_port:
        description: FATE-Flow's HTTP port.
        type: int
        default: 9380
      flow_grpc_port:
        description: FATE-Flow's gRPC port.
        type: int
        default: 9360
      proxy_port:
        description: The party's osx (FATE 2.x) or rollsite (FATE 1.x) port.
        type: int
        default: 9370
      nginx_http_port:
        description: The port of the party's nginx for FATE-Flow's calls between parties.
        type: int
        default: 9300
      rabbitmq_port:
        description: The party's RabbitMQ broker (AMQP).
        type: int
        default: 5672
      rabbitmq_management_port:
        description: The management API of the party's RabbitMQ broker.
        type: int
        default: 15672
      serving_port:
        description: The party's online serving service.
        type: int
        default: 8059
      exchange_rabbitmq_port:
        description:
          - Star only, C(rabbitmq) tables. The exchange's port that forwards to this party's broker; AMQP has no
            header to route on, so the exchange gives each party a port of its own. Required for every party of
            a star when rendering C(rabbitmq).
        type: int
  topology:
    description: C(mesh), parties route to each other directly; C(star), through the I(exchange).
    type: str
    default: mesh
    choices: [mesh, star]
  exchange:
    description: The hub of a star. Required when I(topology=star); ignored in a mesh.
    type: dict
    suboptions:
      host:
        description: Address of the exchange.
        type: str
        required: true
      rollsite_port:
        description: Port of the rollsite exchange (KubeFATE publishes it on 9371).
        type: int
        default: 9371
      osx_port:
        description: Port of the OSX exchange.
        type: int
        default: 9370
      nginx_http_port:
        description: Port of the exchange's nginx for FATE-Flow's calls.
        type: int
        default: 9300
      serving_port:
        description: Port of the exchange's nginx for the online serving calls between parties.
        type: int
        default: 8059
  tls:
    description:
      - Use TLS between parties and the exchange. C(osx) routes carry C(useSSL) and the certificate paths;
        C(rollsite) routes carry C(is_secure) (rollsite reads its certificates from eggroll.properties);
        C(nginx) and C(rabbitmq) tables have no TLS fields.
      - Paths are on the host that runs the proxy.
    type: dict
    suboptions:
      ca_file:
        description: CA certificate that signs the other side's certificate.
        type: str
      cert_chain_file:
        description: This side's certificate chain (mutual TLS).
        type: str
      private_key_file:
        description: The key of I(cert_chain_file).
        type: str
  exclusive:
    description:
      - Write only the rendered routes, dropping routes added by hand. Also replaces a file that cannot be read
        as I(format).
    type: bool
    default: false
  state:
    description: C(present) writes the rendered routes; C(absent) removes the routes of the listed parties.
    type: str
    default: present
    choices: [present, absent]
  mode:
    description: File mode of I(path), as for M(ansible.builtin.file). Unset keeps the mode of an existing file.
    type: raw
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
notes:
  - nginx's C(proxy_pass) takes the address from a variable, so an address given as a host name needs a
    C(resolver) in nginx's C(http) block; IP addresses need none.
  - OSX reloads its route table by itself; rollsite and FATE-Flow (RabbitMQ table) read theirs when they start.
"""

EXAMPLES = r"""
- name: OSX route table of party 9999 in a two-party mesh
  fateops.federation.fate_route_table:
    path: /data/projects/fate/osx/conf/broker/route_table.json
    format: osx
    self_party_id: 9999
    parties:
      - {party_id: 9999, host: 192.0.2.10}
      - {party_id: 10000, host: 192.0.2.11}

- name: nginx routing of FATE-Flow's calls for party 10000, star topology
  fateops.federation.fate_route_table:
    path: /etc/nginx/conf.d/fate_flow_routes.conf
    format: nginx
    self_party_id: 10000
    topology: star
    exchange: {host: 192.0.2.1}
    parties:
      - {party_id: 9999, host: 192.0.2.10}
      - {party_id: 10000, host: 192.0.2.11}
      - {party_id: 10001, host: 192.0.2.12, flow_http_port: 9480}

- name: The exchange's rollsite table (no self_party_id)
  fateops.federation.fate_route_table:
    path: /data/projects/fate/exchange/conf/route_table.json
    format: rollsite
    topology: star
    exchange: {host: 192.0.2.1}
    parties: "{{ fate_route_parties }}"

- name: RabbitMQ route table, replacing whatever the file held
  fateops.federation.fate_route_table:
    path: /data/projects/fate/conf/rabbitmq_route_table.yaml
    format: rabbitmq
    self_party_id: 9999
    parties: "{{ fate_route_parties }}"
    exclusive: true
    mode: "0644"

- name: Party 10001 left the federation; remove its routes
  fateops.federation.fate_route_table:
    path: /data/projects/fate/conf/rabbitmq_route_table.yaml
    format: rabbitmq
    state: absent
    parties:
      - party_id: 10001
"""

RETURN = r"""
path:
  description: The table file.
  returned: always
  type: str
format:
  description: The table format.
  returned: always
  type: str
table:
  description:
    - The table as data, what the file holds after the run (would hold, in check mode). C(nginx) gives
      C(listen) and C(routes) (dest-party-id to upstream address).
  returned: always
  type: dict
  sample: {"route_table": {"10000": {"default": [{"ip": "192.0.2.11", "port": 9370}]}}, "self_party": ["9999"]}
diff:
  description: The file's text before and after.
  returned: in diff mode
  type: dict
"""

import os
import tempfile
from pathlib import Path
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fateops.federation.plugins.module_utils.route_codecs import (
    TableParseError,
    merge_tables,
    parse_table,
    remove_parties,
    serialize_table,
    tables_equal,
)
from ansible_collections.fateops.federation.plugins.module_utils.route_model import (
    DEFAULT_EXCHANGE_OSX_PORT,
    DEFAULT_EXCHANGE_ROLLSITE_PORT,
    DEFAULT_FLOW_GRPC_PORT,
    DEFAULT_FLOW_HTTP_PORT,
    DEFAULT_NGINX_HTTP_PORT,
    DEFAULT_PROXY_PORT,
    DEFAULT_RABBITMQ_MANAGEMENT_PORT,
    DEFAULT_RABBITMQ_PORT,
    DEFAULT_SERVING_PORT,
    TOPOLOGIES,
    RouteTableError,
    federation_from_dict,
)
from ansible_collections.fateops.federation.plugins.module_utils.route_render import FORMATS, render_table


def argument_spec() -> dict[str, Any]:
    return {
        "path": {"type": "path", "required": True},
        "format": {"type": "str", "required": True, "choices": list(FORMATS)},
        "self_party_id": {"type": "int"},
        "parties": {
            "type": "list",
            "elements": "dict",
            "options": {
                "party_id": {"type": "int", "required": True},
                "host": {"type": "str"},
                "flow_http_port": {"type": "int", "default": DEFAULT_FLOW_HTTP_PORT},
                "flow_grpc_port": {"type": "int", "default": DEFAULT_FLOW_GRPC_PORT},
                "proxy_port": {"type": "int", "default": DEFAULT_PROXY_PORT},
                "nginx_http_port": {"type": "int", "default": DEFAULT_NGINX_HTTP_PORT},
                "rabbitmq_port": {"type": "int", "default": DEFAULT_RABBITMQ_PORT},
                "rabbitmq_management_port": {"type": "int", "default": DEFAULT_RABBITMQ_MANAGEMENT_PORT},
                "serving_port": {"type": "int", "default": DEFAULT_SERVING_PORT},
                "exchange_rabbitmq_port": {"type": "int"},
            },
        },
        "topology": {"type": "str", "default": "mesh", "choices": list(TOPOLOGIES)},
        "exchange": {
            "type": "dict",
            "options": {
                "host": {"type": "str", "required": True},
                "rollsite_port": {"type": "int", "default": DEFAULT_EXCHANGE_ROLLSITE_PORT},
                "osx_port": {"type": "int", "default": DEFAULT_EXCHANGE_OSX_PORT},
                "nginx_http_port": {"type": "int", "default": DEFAULT_NGINX_HTTP_PORT},
                "serving_port": {"type": "int", "default": DEFAULT_SERVING_PORT},
            },
        },
        "tls": {
            "type": "dict",
            "options": {
                "ca_file": {"type": "str"},
                "cert_chain_file": {"type": "str"},
                "private_key_file": {"type": "str"},
            },
            "required_together": [("cert_chain_file", "private_key_file")],
        },
        "exclusive": {"type": "bool", "default": False},
        "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
        "mode": {"type": "raw"},
    }


def read_existing(module: AnsibleModule, path: Path, table_format: str) -> tuple[str | None, dict[str, Any] | None]:
    """(text, parsed table) of the file at path; (None, None) when there is none. A file that cannot be read as
    the format fails the module unless exclusive (present) lets it be replaced: then the table is None."""
    if not path.exists():
        return None, None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        module.fail_json(msg=f"cannot read {path}: {exc}", path=str(path))
    try:
        return text, parse_table(table_format, text)
    except TableParseError as exc:
        if module.params["exclusive"] and module.params["state"] == "present":
            return text, None
        module.fail_json(msg=f"{path} is not a readable {table_format} route table: {exc}", path=str(path))
    return text, None


def write_atomically(module: AnsibleModule, path: Path, text: str) -> None:
    # A temporary file in the same directory, so that the final rename never crosses file systems: readers
    # (OSX reloads its table by itself) see the old table or the new one, never half of one.
    descriptor, temporary = tempfile.mkstemp(dir=str(path.parent), prefix=f".{path.name}.", suffix=".tmp")
    module.add_cleanup_file(temporary)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    module.atomic_move(temporary, str(path))


def desired_table(module: AnsibleModule, existing: dict[str, Any] | None) -> dict[str, Any] | None:
    params = module.params
    table_format = params["format"]
    if params["state"] == "absent":
        if existing is None:
            return None
        return remove_parties(table_format, existing, [party["party_id"] for party in params["parties"] or []])
    try:
        federation = federation_from_dict(params["parties"], params["topology"], params["exchange"], params["tls"])
        rendered = render_table(federation, table_format, params["self_party_id"])
    except RouteTableError as exc:
        module.fail_json(msg=f"invalid federation: {exc}", path=params["path"])
    return merge_tables(table_format, existing, rendered, federation.party_ids, exclusive=params["exclusive"])


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        required_if=[("state", "present", ("parties",)), ("topology", "star", ("exchange",))],
    )
    params = module.params
    path = Path(params["path"])
    table_format = params["format"]
    result: dict[str, Any] = {"changed": False, "path": str(path), "format": table_format}

    if path.is_dir():
        module.fail_json(msg=f"path {path} is a directory; give the route table's file path", **result)
    before_text, existing = read_existing(module, path, table_format)
    # In check mode on a new host the directory is not made yet: the table would simply be written there.
    if before_text is None and params["state"] == "present" and not path.parent.is_dir() and not module.check_mode:
        module.fail_json(
            msg=f"directory {path.parent} does not exist; create it first (it is the service's conf directory)",
            **result,
        )

    after = desired_table(module, existing)
    if after is None:
        # state=absent and no file: there is nothing to remove.
        result["table"] = {}
        if module._diff:
            result["diff"] = {"before": "", "after": "", "before_header": str(path), "after_header": str(path)}
        module.exit_json(**result)

    content_changed = existing is None or not tables_equal(table_format, existing, after)
    try:
        after_text = serialize_table(table_format, after) if content_changed else before_text
    except RouteTableError as exc:
        module.fail_json(msg=f"cannot write {path}: {exc}", **result)

    if content_changed and not module.check_mode:
        write_atomically(module, path, after_text)
    changed = content_changed
    if params["mode"] is not None and path.exists():
        changed = module.set_mode_if_different(str(path), params["mode"], changed)

    result.update(changed=changed, table=after)
    if module._diff:
        result["diff"] = {
            "before": before_text or "",
            "after": after_text,
            "before_header": str(path),
            "after_header": str(path),
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
