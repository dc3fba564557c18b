"""The input rules: FATE's ids (module_utils/fate_ids.py), host addresses, names, settings (state.json's shape:
test_contracts.py)."""

import pytest
from ansible_collections.fateops.federation.plugins.module_utils import fate_ids

from fateops import validation
from fateops.errors import UsageError

BAD_PARTY_IDS = [
    "٩٩٩٩",  # Arabic-Indic digits: int() and str.isdigit take them
    "\uff19\uff19\uff19\uff19",  # fullwidth digits
    "²",
    "+9999",
    "-1",
    " 9 ",
    "9\n",
    "1_000",
    "1" * 26,
    "12345678901",  # 11 digits
    "0",
    "00",
    "0999",
    "",
    "9.0",
    "1e3",
    "x",
    True,
    9.0,
    None,
    [9999],
    0,
    -5,
    10**10,
]


@pytest.mark.parametrize("value", BAD_PARTY_IDS)
def test_bad_party_ids(value):
    with pytest.raises(fate_ids.IdError, match="is not a party id; give a positive integer of 1 to 10 ASCII digits"):
        fate_ids.party_id(value)
    with pytest.raises(UsageError, match=r"^-id .* is not a party id"):
        validation.parse_party_id(value, "-id")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", 1), ("9999", 9999), ("10000", 10000), ("9" * 10, 9_999_999_999), (9999, 9999), (1, 1)],
)
def test_good_party_ids(value, expected):
    assert fate_ids.party_id(value) == expected
    assert validation.parse_party_id(value) == expected


BAD_MODEL_NAMES = [
    "../../etc",
    "..",
    "a/b",
    "/etc",
    "a..b",
    "-x",
    ".hidden",
    "",
    " 1",
    "1 ",
    "a b",
    "1\n",
    "ünï",
    "model\\x",
    "a" * 129,
    "{{ lookup('pipe', 'id') }}",
    None,
    True,
    1.5,
    ["1"],
]


@pytest.mark.parametrize("value", BAD_MODEL_NAMES)
def test_bad_model_names(value):
    with pytest.raises(fate_ids.IdError, match="is not a FATE id; use letters, digits"):
        fate_ids.model_name(value, "model_id")
    with pytest.raises(UsageError, match=r"^-mid .* is not a FATE id"):
        validation.check_model_name(value, "-mid")


@pytest.mark.parametrize(
    "value",
    [
        "202612011830123456789",
        "arbiter-10000#guest-9999#host-10000#model",
        "guest-9999#host-10000_10001#model",
        "0",
        "v1.2",
        "my_model-3",
        "a" * 128,
    ],
)
def test_good_model_names(value):
    assert fate_ids.model_name(value) == value
    assert validation.check_model_name(value, "-mver") == value


def test_model_version_zero_as_an_int():
    assert fate_ids.model_name(0, "model_version") == "0"


@pytest.mark.parametrize(
    "value",
    [
        "0.0.0.0",
        "0.1.2.3",
        "::",
        "224.0.0.1",
        "239.255.255.250",
        "ff02::1",
        "255.255.255.255",
        "240.0.0.1",
        "::ffff:0.0.0.0",
        "::ffff:224.0.0.1",
    ],
)
def test_addresses_that_are_not_one_host(value):
    with pytest.raises(UsageError, match="give the unicast address of the host itself"):
        validation.parse_ip(value, "-ip")


@pytest.mark.parametrize("value", ["localhost", "300.1.1.1", "1.2.3", " 127.0.0.1", "127.0.0.1/8", "١٢٧.0.0.1", "", 7])
def test_not_addresses(value):
    with pytest.raises(UsageError, match="is not an IP address"):
        validation.parse_ip(value, "-ip")


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("192.0.2.10", "192.0.2.10"),
        ("10.0.0.255", "10.0.0.255"),  # a /24's broadcast only with a netmask nobody gave: a host address here
        ("::1", "::1"),
        ("2001:DB8::1", "2001:db8::1"),
        ("169.254.1.2", "169.254.1.2"),
    ],
)
def test_good_addresses(value, canonical):
    assert validation.parse_ip(value) == canonical


@pytest.mark.parametrize(
    "value", ["-x", "--project", "ünï", "名前", "a b", "a/b", "a.b", "a\n", "_" * 129, "{{ x }}", 5, ["p"]]
)
def test_bad_names(value):
    with pytest.raises(UsageError, match="may hold only ASCII letters, digits, '_' and '-', must not start with '-'"):
        validation.check_project(value)
    with pytest.raises(UsageError, match="pass -mname with such a name"):
        validation.check_service_name(value)


@pytest.mark.parametrize("value", [None, ""])
def test_missing_names(value):
    with pytest.raises(UsageError, match="no project given; pass -proj NAME"):
        validation.check_project(value)


@pytest.mark.parametrize("value", ["p", "test", "my-project_2", "_x", "9", "A" * 128])
def test_good_names(value):
    assert validation.check_project(value) == value
    assert validation.check_service_name(value) == value


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"fate_flow_http_port": "abc"}, 'fate_flow_http_port is "abc", not a port number from 1 to 65535'),
        ({"fate_flow_http_port": 70000}, "fate_flow_http_port is 70000, not a port number"),
        ({"fate_flow_http_port": True}, "fate_flow_http_port is true, not a port number"),
        ({"fate_topology": [1]}, "fate_topology is [1], not mesh or star"),
        ({"fate_job_options": 5}, "fate_job_options is 5, not an object"),
        ({"fate_job_options": {"hetero_lr": 3}}, "fate_job_options.hetero_lr is 3, not an object"),
        ({"fate_base_dir": 7}, "fate_base_dir is 7, not an absolute path"),
        ({"fate_base_dir": "data/fate"}, 'fate_base_dir is "data/fate", not an absolute path'),
        ({"fate_base_dir": "/data/fate\ninclude /etc"}, 'fate_base_dir is "/data/fate\\ninclude /etc", not an'),
        ({"fate_base_dir": '/data/"fate"'}, 'fate_base_dir is "/data/\\"fate\\"", not an absolute path of letters'),
        ({"fate_base_dir": "/data/my fate"}, 'fate_base_dir is "/data/my fate", not an absolute path of letters'),
        ({"fate_exchange_host": "0.0.0.0"}, 'fate_exchange_host is "0.0.0.0", not a host\'s IP address'),
        ({"fate_arbiter_party_id": "+1"}, 'fate_arbiter_party_id is "+1", not a party id'),
        ({"fate_port_step": 0}, "fate_port_step is 0, not a positive integer"),
        ({"fate_flow_task_threads": -1}, "fate_flow_task_threads is -1, not an integer of 0 or more"),
        ({"fate_flow_task_threads": 1.5}, "fate_flow_task_threads is 1.5, not an integer of 0 or more"),
        ({"fate_flow_task_threads": True}, "fate_flow_task_threads is true, not an integer of 0 or more"),
        ({"fate_flow_task_threads": "two"}, 'fate_flow_task_threads is "two", not an integer of 0 or more'),
        (
            {"fate_task_launcher_modules": ["fate.arch", "x\ncommand=/bin/sh"]},
            'fate_task_launcher_modules[1] is "x\\ncommand=/bin/sh", not a Python module name',
        ),
        (
            {"fate_task_launcher_modules": ["{{ lookup('pipe', 'id') }}"]},
            "fate_task_launcher_modules[0] is \"{{ lookup('pipe', 'id') }}\", not a Python module name",
        ),
        ({"fate_task_launcher": "sometimes"}, 'fate_task_launcher is "sometimes", not true or false'),
        # Typed by the roles' argument specs.
        ({"fate_runtime": "k8s"}, 'fate_runtime is "k8s", not one of native, compose'),
        ({"fate_min_free_disk_mb": "lots"}, 'fate_min_free_disk_mb is "lots", not an integer'),
        ({"fate_version": 2.2}, "fate_version is 2.2, not a string"),
        ({"fate_remove_runtime": "maybe"}, 'fate_remove_runtime is "maybe", not true or false'),
        ({"fate_model_store_sections": []}, "fate_model_store_sections is [], not an object"),
    ],
)
def test_wrongly_typed_settings(settings, problem):
    found = validation.settings_problem(settings)
    assert found is not None and found.startswith(problem)
    name = next(iter(settings))
    assert f"give {name} such a value, or remove it to use the default" in found


def test_defaults_are_named_in_the_fix():
    assert validation.settings_problem({"fate_flow_http_port": "abc"}).endswith("(default 9380)")


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"fate_flow_http_port": 19380, "fate_flow_grpc_port": "19360"},
        {"fate_topology": "star", "fate_exchange_host": "192.0.2.1", "fate_arbiter_party_id": 10000},
        {"fate_job_options": {"hetero_lr": {"job_conf": {"priority": 1}}}},
        {"fate_base_dir": "/data/projects/fate", "fate_runtime": "compose", "fate_remove_runtime": True},
        {"fate_model_store_engine": "mysql", "fate_model_store_sections": {"mysql": {"host": "h"}}},
        {"fate_compose_image_archives": ["images/fate.tar"], "fate_federation_engine": "rabbitmq"},
        {"fate_flow_task_threads": 0},
        {"fate_flow_task_threads": "2"},
        # Unknown keys are the operator's own inventory variables.
        {"my_variable": [1, 2], "fate_something_new": 3},
    ],
)
def test_settings_that_pass(settings):
    assert validation.settings_problem(settings) is None


@pytest.mark.parametrize("user", ["root", "fateops-test", "svc_fate", "a.b", "_x", "U1"])
def test_login_names(user):
    assert validation.check_user(user) == user


@pytest.mark.parametrize("user", ["", "-oProxyCommand=x", "r oot", "root@host", "{{ x }}", "ünï", "a" * 33, 7])
def test_bad_login_names(user):
    with pytest.raises(UsageError, match="is not a login name"):
        validation.check_user(user)
