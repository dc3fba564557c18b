"""The job DAG builders: shapes FATE-Flow 2.2 accepted in real runs, and the input checks."""

import json

import pytest
from ansible_collections.fateops.federation.plugins.module_utils import fate_dag
from ansible_collections.fateops.federation.plugins.module_utils.fate_dag import DagError

GUEST_TABLE = ("test", "breast_guest")
HOST_TABLES = {"10000": ("test", "breast_host")}


def lr(**overrides):
    arguments = {
        "guest": "9999",
        "hosts": ["10000"],
        "arbiter": "10000",
        "guest_table": GUEST_TABLE,
        "host_tables": HOST_TABLES,
    }
    arguments.update(overrides)
    return fate_dag.hetero_lr_dag(**arguments)


def test_hetero_lr_wiring():
    schema = lr()
    assert schema["schema_version"] == "2.2.0"
    dag = schema["dag"]
    assert dag["stage"] == "train"
    assert dag["parties"] == [
        {"role": "guest", "party_id": ["9999"]},
        {"role": "host", "party_id": ["10000"]},
        {"role": "arbiter", "party_id": ["10000"]},
    ]
    assert list(dag["tasks"]) == ["reader_0", "psi_0", "lr_0", "evaluation_0"]
    data_parties = [{"role": "guest", "party_id": ["9999"]}, {"role": "host", "party_id": ["10000"]}]
    reader = dag["tasks"]["reader_0"]
    assert reader["component_ref"] == "reader"
    # The arbiter has no data: the Reader must not run there.
    assert reader["parties"] == data_parties
    psi = dag["tasks"]["psi_0"]
    assert psi["component_ref"] == "psi" and psi["dependent_tasks"] == ["reader_0"]
    assert psi["inputs"]["data"]["input_data"]["task_output_artifact"] == {
        "producer_task": "reader_0",
        "output_artifact_key": "output_data",
        "parties": data_parties,
    }
    model = dag["tasks"]["lr_0"]
    assert model["component_ref"] == "coordinated_lr"
    assert "parties" not in model  # runs on every role, arbiter included
    assert model["inputs"]["data"]["train_data"]["task_output_artifact"]["producer_task"] == "psi_0"
    evaluation = dag["tasks"]["evaluation_0"]
    assert evaluation["parties"] == [{"role": "guest", "party_id": ["9999"]}]
    assert evaluation["parameters"] == {"default_eval_setting": "binary"}
    channel = evaluation["inputs"]["data"]["input_datas"]["task_output_artifact"]
    assert channel == [
        {
            "producer_task": "lr_0",
            "output_artifact_key": "train_output_data",
            "parties": [{"role": "guest", "party_id": ["9999"]}],
        }
    ]


def test_evaluation_never_names_the_label_column():
    for algorithm in ("hetero_lr", "hetero_linr"):
        schema = fate_dag.build_dag(algorithm, "9999", ["10000"], None, GUEST_TABLE, HOST_TABLES)
        assert "label_column_name" not in json.dumps(schema)


def test_reader_tables_per_party():
    party_tasks = lr()["dag"]["party_tasks"]
    assert party_tasks == {
        "guest_9999": {
            "parties": [{"role": "guest", "party_id": ["9999"]}],
            "tasks": {"reader_0": {"parameters": {"namespace": "test", "name": "breast_guest"}}},
        },
        "host_10000": {
            "parties": [{"role": "host", "party_id": ["10000"]}],
            "tasks": {"reader_0": {"parameters": {"namespace": "test", "name": "breast_host"}}},
        },
    }


def test_fate_example_defaults_and_overrides():
    parameters = lr()["dag"]["tasks"]["lr_0"]["parameters"]
    assert parameters["epochs"] == 10 and parameters["batch_size"] == 300
    assert parameters["optimizer"] == {
        "method": "SGD",
        "optimizer_params": {"lr": 0.1},
        "penalty": "l2",
        "alpha": 0.001,
    }
    assert parameters["init_param"] == {"fit_intercept": True, "method": "zeros"}
    assert parameters["learning_rate_scheduler"]["method"] == "linear"
    tuned = lr(options={"epochs": 3, "batch_size": None, "learning_rate": 0.2, "threshold": 0.4})
    parameters = tuned["dag"]["tasks"]["lr_0"]["parameters"]
    assert parameters["epochs"] == 3 and parameters["batch_size"] is None
    assert parameters["optimizer"]["optimizer_params"] == {"lr": 0.2}
    assert parameters["threshold"] == 0.4


def test_options_do_not_leak_between_calls():
    lr(options={"learning_rate_scheduler": {"method": "constant"}})
    assert lr()["dag"]["tasks"]["lr_0"]["parameters"]["learning_rate_scheduler"]["method"] == "linear"


def test_job_conf_lands_in_dag_conf():
    schema = lr(options={"job_conf": {"task": {"timeout": 600}}})
    assert schema["dag"]["conf"] == {"task": {"timeout": 600}}
    assert "conf" not in lr()["dag"]


def test_unknown_option_is_an_error():
    with pytest.raises(DagError, match=r"unknown option.*epoch\b"):
        lr(options={"epoch": 3})


def test_hetero_linr():
    schema = fate_dag.hetero_linr_dag("9999", ["10000"], "10000", GUEST_TABLE, HOST_TABLES)
    tasks = schema["dag"]["tasks"]
    assert list(tasks) == ["reader_0", "psi_0", "linr_0", "evaluation_0"]
    assert tasks["linr_0"]["component_ref"] == "coordinated_linr"
    assert tasks["linr_0"]["parameters"]["optimizer"]["method"] == "rmsprop"
    assert "threshold" not in tasks["linr_0"]["parameters"]
    assert tasks["evaluation_0"]["parameters"] == {"default_eval_setting": "regression"}
    assert tasks["evaluation_0"]["dependent_tasks"] == ["linr_0"]


def test_one_party_id_in_every_role():
    schema = fate_dag.build_dag("hetero_lr", 1, [1], 1, GUEST_TABLE, {1: ("test", "h")})
    dag = schema["dag"]
    assert [p["party_id"] for p in dag["parties"]] == [["1"], ["1"], ["1"]]
    # Keys are per role, so the guest's and the host's tables stay apart.
    assert dag["party_tasks"]["guest_1"]["tasks"]["reader_0"]["parameters"]["name"] == "breast_guest"
    assert dag["party_tasks"]["host_1"]["tasks"]["reader_0"]["parameters"]["name"] == "h"


def test_two_hosts_read_their_own_tables():
    schema = fate_dag.build_dag(
        "hetero_lr",
        "9999",
        ["10000", "10001"],
        None,
        GUEST_TABLE,
        {"10001": ("test", "host_b"), "10000": ("test", "host_a")},
    )
    dag = schema["dag"]
    assert dag["parties"][1] == {"role": "host", "party_id": ["10000", "10001"]}
    assert dag["parties"][2] == {"role": "arbiter", "party_id": ["10000"]}  # the first host
    assert dag["party_tasks"]["host_10000"]["tasks"]["reader_0"]["parameters"]["name"] == "host_a"
    assert dag["party_tasks"]["host_10001"]["tasks"]["reader_0"]["parameters"]["name"] == "host_b"


def test_several_hosts_stop_on_weight_diff():
    two_hosts = {"10000": ("n", "a"), "10001": ("n", "b")}
    for algorithm, task in fate_dag.MODEL_TASK.items():
        schema = fate_dag.build_dag(algorithm, "9999", ["10000", "10001"], None, GUEST_TABLE, two_hosts)
        assert schema["dag"]["tasks"][task]["parameters"]["early_stop"] == "weight_diff"
        # One host: FATE's own default (loss diff) stays.
        single = fate_dag.build_dag(algorithm, "9999", ["10000"], None, GUEST_TABLE, HOST_TABLES)
        assert "early_stop" not in single["dag"]["tasks"][task]["parameters"]
    with pytest.raises(DagError, match="needs the loss, which FATE cannot compute with 2 hosts"):
        fate_dag.build_dag(
            "hetero_lr", "9999", ["10000", "10001"], None, GUEST_TABLE, two_hosts, {"early_stop": "diff"}
        )
    assert lr(options={"early_stop": "abs"})["dag"]["tasks"]["lr_0"]["parameters"]["early_stop"] == "abs"


def test_tables_accept_mappings_and_refs():
    schema = fate_dag.build_dag(
        "hetero_lr",
        "9999",
        ["10000"],
        None,
        {"namespace": "n", "name": "g"},
        {"10000": fate_dag.TableRef("n", "h")},
    )
    assert schema["dag"]["party_tasks"]["guest_9999"]["tasks"]["reader_0"]["parameters"] == {
        "namespace": "n",
        "name": "g",
    }


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"host_tables": {}}, "no table given for host\\(s\\) 10000"),
        ({"host_tables": {"10000": ("n", "h"), "7": ("n", "x")}}, "not hosts of this job: 7"),
        ({"guest_table": ("n",)}, "must be \\(namespace, name\\)"),
        ({"guest_table": {"namespace": "n"}}, "needs both a namespace and a name"),
        ({"hosts": []}, "at least one host"),
        ({"hosts": ["10000", "10000"]}, "must be distinct, repeated: 10000"),
        ({"guest": ""}, "guest party id is required"),
    ],
)
def test_bad_inputs_say_what_to_fix(arguments, message):
    with pytest.raises(DagError, match=message):
        lr(**arguments)


def test_unknown_algorithm():
    with pytest.raises(DagError, match="choose one of hetero_lr, hetero_linr, example"):
        fate_dag.build_dag("svm", "9999", ["10000"])


def test_toy_example_like_flow_test_toy():
    schema = fate_dag.build_dag("example", "9999", ["10000"], "10000")
    dag = schema["dag"]
    assert dag["parties"] == [
        {"role": "guest", "party_id": ["9999"]},
        {"role": "host", "party_id": ["10000"]},
    ]
    assert dag["tasks"] == {
        "toy_example_0": {"component_ref": "toy_example", "parameters": {"data_num": 1024, "partition": 4}}
    }
    assert "party_tasks" not in dag
    small = fate_dag.toy_example_dag("1", ["1"], {"data_num": 10})
    assert small["dag"]["tasks"]["toy_example_0"]["parameters"]["data_num"] == 10


def test_predict_dag_reads_the_model_of_the_training_job():
    schema = fate_dag.predict_dag(
        "hetero_lr", "202611220343389966460", 0, "9999", ["10000"], "10000", ("p", "g1"), {"10000": ("p", "h1")}
    )
    dag = schema["dag"]
    assert dag["stage"] == "predict"
    assert dag["conf"] == {"model_warehouse": {"model_id": "202611220343389966460", "model_version": "0"}}
    model = dag["tasks"]["lr_0"]
    assert model["component_ref"] == "coordinated_lr"
    assert model["inputs"]["model"]["input_model"]["model_warehouse"]["producer_task"] == "lr_0"
    assert model["inputs"]["model"]["input_model"]["model_warehouse"]["output_artifact_key"] == "output_model"
    assert model["inputs"]["data"]["test_data"]["task_output_artifact"][0]["producer_task"] == "psi_0"
    assert "parameters" not in model
    assert dag["party_tasks"]["host_10000"]["tasks"]["reader_0"]["parameters"] == {"namespace": "p", "name": "h1"}


def test_predict_dag_refuses_the_toy_example_and_a_missing_model():
    with pytest.raises(DagError, match="can predict"):
        fate_dag.predict_dag("example", "j", "0", "9999", ["10000"], None, GUEST_TABLE, HOST_TABLES)
    with pytest.raises(DagError, match="model_id"):
        fate_dag.predict_dag("hetero_lr", "", "0", "9999", ["10000"], None, GUEST_TABLE, HOST_TABLES)


def test_dags_are_json():
    for algorithm in fate_dag.ALGORITHMS:
        schema = fate_dag.build_dag(algorithm, "9999", ["10000"], None, GUEST_TABLE, HOST_TABLES)
        assert json.loads(json.dumps(schema)) == schema


def test_job_options_are_checked_and_normalised():
    conf = {
        "priority": 2,
        "auto_retries": 1,
        "cores": 4,
        "computing_partitions": 4,
        "scheduler_party_id": 9999,
        "sync_type": "poll",
        "inheritance": {"job_id": 202611220632017786920, "task_list": ["reader_0"]},
        "task": {"timeout": 600, "provider": "fate:2.2.0@local", "engine_run": {"cores": 2}},
    }
    checked = fate_dag.check_job_conf(conf)
    assert checked["scheduler_party_id"] == "9999"
    assert checked["inheritance"] == {"job_id": "202611220632017786920", "task_list": ["reader_0"]}
    assert lr(options={"job_conf": conf})["dag"]["conf"]["task"]["engine_run"] == {"cores": 2}


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"priorty": 1}, "has no option 'priorty'"),
        ({"priority": -1}, "must be a non-negative integer"),
        ({"cores": 0}, "cores must be a positive integer"),
        ({"auto_retries": True}, "auto_retries must be"),
        ({"sync_type": "push"}, "poll or callback"),
        ({"inheritance": {"job_id": "1"}}, "inheritance must be"),
        ({"task": {"timeout": "1h"}}, "job_conf.task.timeout must be a positive integer"),
        ({"task": {"cpus": 2}}, "job_conf.task has no option 'cpus'"),
        ({"model_warehouse": {"model_id": "m"}}, "model_warehouse must be"),
    ],
)
def test_bad_job_options(conf, message):
    with pytest.raises(fate_dag.DagError, match=message):
        lr(options={"job_conf": conf})
