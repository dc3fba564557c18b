"""Planning a deployment from the facade's lists: validation, host grouping, inventory."""

import pytest

from fateops import deployment
from fateops.contracts import DeploymentRecord, HostRecord, State
from fateops.errors import FateopsError, UsageError


def test_parties_on_one_ip_share_a_host():
    parties, users = deployment.parse_parties(["9999", "10000"], ["127.0.0.1", "127.0.0.1"], ["x", "x"], None)
    hosts = deployment.group_hosts(parties, users)
    assert list(hosts) == ["127.0.0.1"]
    assert hosts["127.0.0.1"].party_ids == [9999, 10000]
    assert hosts["127.0.0.1"].local
    assert hosts["127.0.0.1"].user == "root"


def test_without_u_no_user_is_given_so_a_hosts_recorded_user_stays():
    # A party deployed with -u fateop is deleted (or re-deployed) without -u: the deployment's user is kept.
    _, given = deployment.parse_parties(["9999"], ["192.0.2.7"], None, None)
    assert given == {}
    _, given = deployment.parse_parties(["9999"], ["192.0.2.7"], None, ["admin"])
    assert given == {"192.0.2.7": "admin"}


def test_single_host_form_one_id():
    parties, users = deployment.parse_parties(["1"], ["127.0.0.1"], ["x"], ["root"])
    assert parties == [deployment.Party(1, "127.0.0.1")]
    flows = deployment.plan_flows(deployment.group_hosts(parties, users), {})
    assert [f.as_dict() for f in flows["127.0.0.1"]] == [
        {
            "name": "standalone",
            "party_ids": [1],
            "http_port": 9380,
            "grpc_port": 9360,
            "serving_port": 8059,
            "federation": "standalone",
        }
    ]


@pytest.mark.parametrize(
    ("ids", "ips", "pws", "users", "message"),
    [
        (["1", "2"], ["127.0.0.1"], None, None, "-id has 2 values but -ip has 1"),
        (["1"], ["127.0.0.1"], ["a", "b"], None, "-pw has 2 values"),
        (["1", "2"], ["127.0.0.1"] * 2, None, ["a", "b", "c"], "-u has 3 values"),
        (["x"], ["127.0.0.1"], None, None, "-id 'x' is not a party id"),
        (["1.5"], ["127.0.0.1"], None, None, "not a party id"),
        (["0"], ["127.0.0.1"], None, None, "positive"),
        (["1"], ["300.1.1.1"], None, None, "not an IP address"),
        (["1"], ["localhost"], None, None, "not an IP address"),
        (["1", "1"], ["127.0.0.1", "127.0.0.2"], None, None, "given for two hosts"),
        (["1", "1"], ["127.0.0.1", "127.0.0.1"], None, None, "listed twice"),
        (["1", "2"], ["127.0.0.1", "127.0.0.1"], None, ["a", "b"], "two ssh users"),
        (None, ["127.0.0.1"], None, None, "no party id"),
        (["1"], None, None, None, "no host address"),
    ],
)
def test_bad_lists(ids, ips, pws, users, message):
    with pytest.raises(UsageError, match=message.replace(".", r"\.").replace("(", r"\(")):
        deployment.parse_parties(ids, ips, pws, users)


def test_ipv6_and_normalisation():
    parties, _ = deployment.parse_parties(["7"], ["::1"], None, None)
    assert parties[0].ip == "::1"
    assert deployment.is_local_address("::1")


def test_local_and_remote_addresses():
    assert deployment.is_local_address("127.0.0.1")
    assert deployment.is_local_address("127.0.0.53")
    # TEST-NET-1 (RFC 5737) is never assigned to this machine.
    assert not deployment.is_local_address("192.0.2.10")


def test_remote_host_inventory_uses_ssh():
    host = deployment.Host("192.0.2.10", "admin", False, [9999])
    inventory = deployment.build_inventory(
        {"192.0.2.10": host}, {"192.0.2.10": [deployment.Flow("party-9999", [9999], 9380, 9360)]}, {"x": 1}
    )
    entry = inventory["all"]["children"]["fate_parties"]["hosts"]["192.0.2.10"]
    assert entry["ansible_connection"] == "ssh"
    assert entry["ansible_user"] == "admin"
    assert entry["fate_instances"][0]["name"] == "party-9999"
    assert entry["ansible_python_interpreter"] == "/usr/bin/python3"
    # Every port deploy.yml checks on the host before it changes any: the instances' ports.
    assert sorted(port for instance in entry["fate_instances"] for port in instance["ports"].values()) == [
        8059,
        9360,
        9380,
    ]
    assert inventory["all"]["vars"]["x"] == 1
    assert inventory["all"]["vars"]["fate_serving_peers"] == {"9999": "192.0.2.10:8059"}


def test_local_inventory_uses_local_connection_and_ports_from_settings():
    parties, users = deployment.parse_parties(["9999", "10000"], ["127.0.0.1"] * 2, None, None)
    hosts = deployment.group_hosts(parties, users)
    settings = {"fate_flow_http_port": 19380, "fate_flow_grpc_port": 19360}
    inventory = deployment.build_inventory(hosts, deployment.plan_flows(hosts, settings), settings)
    entry = inventory["all"]["children"]["fate_parties"]["hosts"]["127.0.0.1"]
    assert entry["ansible_connection"] == "local"
    base = "/data/projects/fate/standalone"
    assert entry["fate_instances"] == [
        {
            "name": "standalone",
            "runtime": "native",
            "party_ids": [9999, 10000],
            "directories": {
                "instance": base,
                "home": f"{base}/home",
                "venv": f"{base}/venv",
                "logs": f"{base}/logs",
                "run": f"{base}/run",
                "supervisor": f"{base}/supervisor.d",
                "serving": f"{base}/serving",
                "tables": f"{base}/home/fateops/tables",
                "models": f"{base}/home/fateops/models",
            },
            "files": {
                "python": f"{base}/venv/bin/python",
                "supervisor_conf": f"{base}/supervisord.conf",
                "task_launcher": f"{base}/venv/bin/fate-task-launcher",
                "task_socket": f"{base}/run/tasks.sock",
            },
            "ports": {"http": 19380, "grpc": 19360, "serving": 8059},
            "federation": {"engine": "standalone", "topology": "mesh", "parties": [], "exchange": None,
                           "removed_parties": []},
        }
    ]  # fmt: skip
    assert inventory["all"]["vars"]["fate_base_dir"] == "/data/projects/fate"
    assert inventory["all"]["vars"]["fate_federation"]["parties"] == []
    # Passwords never enter an inventory.
    assert "password" not in repr(inventory).lower()


def _hosts(*placement: tuple[str, list[int]]) -> dict[str, deployment.Host]:
    return {ip: deployment.Host(ip, "root", False, list(ids)) for ip, ids in placement}


def test_several_hosts_get_one_flow_per_party_with_its_broker_and_nginx():
    flows = deployment.plan_flows(_hosts(("192.0.2.10", [9999]), ("192.0.2.11", [10001, 10000])), {})
    assert [f.as_dict() for f in flows["192.0.2.10"]] == [
        {
            "name": "party-9999",
            "party_ids": [9999],
            "http_port": 9380,
            "grpc_port": 9360,
            "serving_port": 8059,
            "federation": "rabbitmq",
            "nginx_port": 9300,
            "rabbitmq_port": 5672,
            "rabbitmq_management_port": 15672,
            "rabbitmq_dist_port": 25672,
        }
    ]
    # Two parties on one host: the second one's ports are all shifted by the step.
    second = flows["192.0.2.11"][1]
    assert (second.name, second.http_port, second.rabbitmq_port, second.nginx_port) == ("party-10001", 9390, 5682, 9310)
    assert deployment.Flow.from_dict(second.as_dict()) == second
    federation = deployment.plan_federation(flows, None)
    first_ports = deployment.plan_instance(flows["192.0.2.11"][0], {}, federation).ports.every()
    second_instance = deployment.plan_instance(second, {}, federation)
    assert set(second_instance.ports.every()).isdisjoint(first_ports)
    assert second_instance.ports.as_dict() == {"http": 9390, "grpc": 9370, "serving": 8069, "nginx": 9310,
                                               "amqp": 5682, "management": 15682, "dist": 25682}  # fmt: skip
    assert second_instance.directories.rabbitmq == "/data/projects/fate/party-10001/rabbitmq"


def test_port_step_and_bad_port_settings():
    flows = deployment.plan_flows(_hosts(("192.0.2.10", [1, 2]), ("192.0.2.11", [3])), {"fate_port_step": 100})
    assert flows["192.0.2.10"][1].http_port == 9480
    with pytest.raises(UsageError, match=r"fate_rabbitmq_port is 'x' in settings\.yml; give a port number"):
        deployment.plan_flows(_hosts(("192.0.2.10", [1]), ("192.0.2.11", [2])), {"fate_rabbitmq_port": "x"})


def test_star_needs_an_exchange_and_keeps_its_broker_ports():
    hosts = _hosts(("192.0.2.10", [9999]), ("192.0.2.11", [10000]))
    with pytest.raises(UsageError, match="fate_topology star needs fate_exchange_host"):
        deployment.plan_flows(hosts, {"fate_topology": "star"})
    with pytest.raises(UsageError, match="fate_topology is 'ring'"):
        deployment.plan_flows(hosts, {"fate_topology": "ring"})
    settings = {"fate_topology": "star", "fate_exchange_host": "192.0.2.1"}
    exchange = deployment.plan_exchange(hosts, settings, None)
    assert exchange is not None and exchange.rabbitmq_ports == {9999: 35672, 10000: 35673}
    # A party that joins later gets a new port; the others keep theirs, so their routes do not change.
    bigger = _hosts(("192.0.2.10", [9999, 1]), ("192.0.2.11", [10000]))
    again = deployment.plan_exchange(bigger, settings, exchange)
    assert again is not None and again.rabbitmq_ports == {1: 35674, 9999: 35672, 10000: 35673}
    assert deployment.ExchangeHost.from_dict(again.as_dict()) == again
    assert deployment.plan_exchange(hosts, {}, None) is None


def test_star_inventory_routes_through_the_exchange():
    hosts = _hosts(("192.0.2.10", [9999]), ("192.0.2.11", [10000]))
    settings = {"fate_topology": "star", "fate_exchange_host": "192.0.2.1"}
    flows = deployment.plan_flows(hosts, settings)
    exchange = deployment.plan_exchange(hosts, settings, None)
    inventory = deployment.build_inventory(hosts, flows, settings, exchange=exchange, removed=[10001])
    federation = inventory["all"]["vars"]["fate_federation"]
    assert federation["topology"] == "star"
    assert federation["exchange"] == {"host": "192.0.2.1", "nginx_http_port": 9300, "serving_port": 8059}
    assert [p["exchange_rabbitmq_port"] for p in federation["parties"]] == [35672, 35673]
    assert federation["removed_parties"] == [{"party_id": 10001}]
    # The guest reaches every host's serving service through the exchange too.
    assert set(inventory["all"]["vars"]["fate_serving_peers"].values()) == {"192.0.2.1:8059"}
    hub = inventory["all"]["children"]["fate_exchange"]["hosts"]["192.0.2.1"]
    assert hub["fate_exchange_state"] == "present"


def test_unreachable_host_is_named():
    # A loopback port nobody listens on: refused at once, no traffic leaves this machine.
    with pytest.raises(FateopsError, match=r"host 127\.0\.0\.1 is unreachable: ssh port 1 "):
        deployment.check_reachable("127.0.0.1", port=1, timeout=1)


def test_party_flows_from_state():
    flow = deployment.Flow("standalone", [9999, 10000], 9380, 9360)
    state = State(deployment=DeploymentRecord(hosts={"127.0.0.1": HostRecord("root", True, [flow])}))
    flows = deployment.party_flows(state)
    assert flows[10000] == deployment.PartyFlow(10000, "127.0.0.1", "standalone", 9380)
    assert deployment.deployed_flow(state, 9999).http_port == 9380
    with pytest.raises(UsageError, match=r"party 5 is not deployed \(deployed: 9999, 10000\)"):
        deployment.deployed_flow(state, 5)


# ---------------------------------------------------------------------------------------- runtime compose

# KubeFATE's image set: its own proxy (OSX), board and serving exchange ports.
COMPOSE = {"fate_runtime": "compose", "fate_compose_image_set": "kubefate"}
# The fateops image set (the default): the native federation's broker and nginx, in the compose port slots.
COMPOSE_FATEOPS = {"fate_runtime": "compose"}


def test_compose_fateops_set_plans_the_native_federation_ports_in_compose_slots():
    hosts = {"192.0.2.10": deployment.Host("192.0.2.10", "root", False, [10000, 9999])}
    plan = deployment.plan_flows(hosts, {**COMPOSE_FATEOPS, "fate_nginx_http_port": 9800})
    shared = [flow.as_dict() for flow in plan["192.0.2.10"]]
    assert shared == [
        {"name": "confs-9999", "party_ids": [9999], "http_port": 9380, "grpc_port": 9360, "serving_port": 8059,
         "federation": "rabbitmq", "nginx_port": 9800, "rabbitmq_port": 5672, "rabbitmq_management_port": 15672,
         "rabbitmq_dist_port": 25672},
        {"name": "confs-10000", "party_ids": [10000], "http_port": 9480, "grpc_port": 9460, "serving_port": 8159,
         "federation": "rabbitmq", "nginx_port": 9900, "rabbitmq_port": 5772, "rabbitmq_management_port": 15772,
         "rabbitmq_dist_port": 25772},
    ]  # fmt: skip
    assert deployment.Flow.from_dict(shared[1]).as_dict() == shared[1]
    inventory = deployment.build_inventory(hosts, plan, COMPOSE_FATEOPS)
    (instance, _) = inventory["all"]["children"]["fate_parties"]["hosts"]["192.0.2.10"]["fate_instances"]
    assert (instance["runtime"], instance["federation"]["engine"]) == ("compose", "rabbitmq")
    assert instance["ports"] == {"http": 9380, "grpc": 9360, "serving": 8059, "nginx": 9800, "amqp": 5672,
                                 "management": 15672, "dist": 25672}  # fmt: skip
    top = instance["directories"]["compose_project"]
    assert instance["directories"]["uploads"] == f"{top}/uploads"
    assert instance["directories"]["tables"] == f"{top}/fateops/tables"
    # The route model sees each project's broker and nginx, as a native party's.
    parties = {p["party_id"]: p for p in instance["federation"]["parties"]}
    assert (parties[10000]["nginx_http_port"], parties[10000]["rabbitmq_port"]) == (9900, 5772)
    # A broker port of one project must not land on another's.
    with pytest.raises(FateopsError, match="fate_compose_port_step"):
        deployment.plan_flows(hosts, {**COMPOSE_FATEOPS, "fate_nginx_http_port": 9480})


def test_an_unknown_compose_image_set_is_refused():
    hosts = {"192.0.2.10": deployment.Host("192.0.2.10", "root", False, [9999])}
    with pytest.raises(
        UsageError, match=r"fate_compose_image_set is 'docker' in settings\.yml; use fateops or kubefate"
    ):
        deployment.plan_flows(hosts, {**COMPOSE, "fate_compose_image_set": "docker"})


def test_compose_plans_one_project_per_party_with_offset_ports():
    hosts = {
        "192.0.2.10": deployment.Host("192.0.2.10", "root", False, [10000, 9999]),
        "192.0.2.11": deployment.Host("192.0.2.11", "root", False, [10001]),
    }
    plan = deployment.plan_flows(hosts, COMPOSE)
    shared = [flow.as_dict() for flow in plan["192.0.2.10"]]
    assert shared == [
        {"name": "confs-9999", "party_ids": [9999], "http_port": 9380, "grpc_port": 9360, "serving_port": 8059,
         "federation": "standalone", "proxy_port": 9370, "board_port": 8080, "serving_exchange_port": 8869},
        {"name": "confs-10000", "party_ids": [10000], "http_port": 9480, "grpc_port": 9460, "serving_port": 8159,
         "federation": "standalone", "proxy_port": 9470, "board_port": 8180, "serving_exchange_port": 8969},
    ]  # fmt: skip
    # Another Docker host starts from the base ports again; several hosts are fine for compose.
    assert plan["192.0.2.11"][0].http_port == 9380
    assert deployment.Flow.from_dict(shared[1]).as_dict() == shared[1]


def test_compose_keeps_deployed_parties_where_they_are():
    before = deployment.plan_flows({"192.0.2.10": deployment.Host("192.0.2.10", "root", False, [10000])}, COMPOSE)
    after = deployment.plan_flows(
        {"192.0.2.10": deployment.Host("192.0.2.10", "root", False, [9999, 10000])}, COMPOSE, before
    )
    ports = {flow.party_ids[0]: flow.http_port for flow in after["192.0.2.10"]}
    # 10000 was deployed first and keeps 9380, although 9999 sorts before it.
    assert ports == {10000: 9380, 9999: 9480}


def test_compose_port_overlap_is_refused_with_the_fix():
    hosts = {"192.0.2.10": deployment.Host("192.0.2.10", "root", False, [9999, 10000])}
    with pytest.raises(FateopsError, match="fate_compose_port_step"):
        deployment.plan_flows(hosts, {**COMPOSE, "fate_compose_port_step": 10})


def test_a_base_dir_too_long_for_supervisords_socket_is_refused_naming_the_fix():
    parties, users = deployment.parse_parties(["9999", "10000"], ["192.0.2.10", "192.0.2.11"], None, None)
    hosts = deployment.group_hosts(parties, users)
    fits = {"fate_base_dir": "/" + "b" * (107 - len("/party-10000/run/supervisor.sock") - 1)}
    deployment.build_inventory(hosts, deployment.plan_flows(hosts, fits), fits)
    too_long = {"fate_base_dir": fits["fate_base_dir"] + "b"}
    with pytest.raises(UsageError) as refused:
        deployment.build_inventory(hosts, deployment.plan_flows(hosts, too_long), too_long)
    message = str(refused.value)
    assert "fate_base_dir" in message and "/party-10000/run/supervisor.sock would take 108 bytes" in message
    assert "choose a shorter fate_base_dir" in message
