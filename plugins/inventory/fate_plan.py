"""Inventory plugin fate_plan: the parties an operator writes, planned into the host contract."""

from __future__ import annotations

DOCUMENTATION = r"""
name: fate_plan
short_description: FATE parties and their hosts, planned into the host contract that deploy.yml reads
description:
  - Reads the parties of a federation (each party id and the address of its host, what C(script.py -f deploy)
    takes as -id and -ip), settings (the variables of the facade's settings.yml) and how Ansible reaches each
    host, and runs the deployment plan of fateops (C(fateops/deployment.py)) on them.
  - The result is the inventory C(script.py -f deploy) would run C(playbooks/deploy.yml) with, without a workspace
    behind it; group C(fate_parties) with each host's C(fate_party_ids) and C(fate_instances), group
    C(fate_exchange) (the exchange of a star, else empty), and in C(all) the settings, C(fate_federation) and
    C(fate_serving_peers).
  - Parties on one host share one standalone FATE-Flow; parties on several hosts (or a star) get one FATE-Flow
    each with its broker and nginx, every port from the settings or FATE's defaults.
  - Nothing is recorded, so a party taken out of the file is not removed from its host (use
    C(script.py -f delete), or C(delete.yml) with C(fate_instances_absent)), and instances record no owner.
  - The file's name ends in C(.yml) or C(.yaml) and it holds C(plugin: fateops.federation.fate_plan).
options:
  plugin:
    description: The name of this plugin.
    type: str
    required: true
    choices: [fateops.federation.fate_plan]
  parties:
    description:
      - Each party as C({party_id, host}), host the address of the host it runs on (a host of several parties
        is listed once per party).
    type: list
    elements: dict
    required: true
  settings:
    description:
      - Variables for every host, the keys of the facade's C(settings.yml) (C(fate_base_dir), C(fate_topology),
        C(fate_exchange_host), ports, C(fate_runtime), ...), checked as the facade checks them.
    type: dict
    default: {}
  hosts:
    description:
      - Per host address (a party's or the exchange's), the variables Ansible connects with, such as
        C(ansible_user), C(ansible_port), C(ansible_ssh_private_key_file). An address of this machine is reached
        without ssh unless they say otherwise.
    type: dict
    default: {}
"""

EXAMPLES = r"""
# inventories/mesh/hosts.yml, run with: ansible-playbook -i inventories/mesh playbooks/deploy.yml
plugin: fateops.federation.fate_plan
parties:
  - {party_id: 9999, host: 192.0.2.10}
  - {party_id: 10000, host: 192.0.2.11}
settings:
  fate_base_dir: /data/projects/fate
hosts:
  192.0.2.10: {ansible_user: root}
  192.0.2.11: {ansible_user: admin, ansible_become: true}
"""

import sys
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin

# The plan is the controller library's (fateops/ at the collection's root), the same code script.py runs.
_COLLECTION_ROOT = str(Path(__file__).resolve().parents[2])


def _plan(parties: list[Any], settings: dict[str, Any], hosts: dict[str, Any]) -> dict[str, Any]:
    if _COLLECTION_ROOT not in sys.path:
        sys.path.append(_COLLECTION_ROOT)
    from fateops.deployment import plan_inventory
    from fateops.errors import FateopsError

    try:
        return plan_inventory(parties, settings, hosts)
    except FateopsError as exc:
        raise AnsibleParserError(str(exc)) from None


class InventoryModule(BaseInventoryPlugin):
    NAME = "fateops.federation.fate_plan"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and path.endswith((".yml", ".yaml"))

    def parse(self, inventory: Any, loader: Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        planned = _plan(self.get_option("parties"), self.get_option("settings"), self.get_option("hosts"))
        top = planned["all"]
        for name, value in top["vars"].items():
            self.inventory.set_variable("all", name, value)
        for group in ("fate_parties", "fate_exchange"):
            self.inventory.add_group(group)
            for host, variables in (top["children"].get(group, {}).get("hosts") or {}).items():
                self.inventory.add_host(host, group=group)
                for name, value in variables.items():
                    self.inventory.set_variable(host, name, value)
