# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""Pure builders of FATE 2.x job DAGs: the ``dag_schema`` that POST /v2/job/submit takes.

Shapes follow what FATE 2.2's own pipeline compiles (schema_version 2.2.0): ``dag.parties`` lists every role,
``dag.party_tasks`` carries each party's own Reader table, ``dag.tasks`` wires the components together.
Facts that shaped them, all checked on a real FATE-Flow 2.2:
- the Reader runs on guest and hosts only: the arbiter has no data;
- the model component has no ``parties`` so it runs on every role, arbiter included;
- Evaluation runs on the guest only and fails when given ``label_column_name``: it stays unset;
- one party id may be guest, host and arbiter at once (party_tasks keys are per role: guest_1, host_1);
- with several hosts the arbiter cannot compute the loss: early_stop must be weight_diff.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

SCHEMA_VERSION = "2.2.0"
ALGORITHMS = ("hetero_lr", "hetero_linr", "example")
SUPERVISED_ALGORITHMS = ("hetero_lr", "hetero_linr")

READER_TASK = "reader_0"
PSI_TASK = "psi_0"
EVALUATION_TASK = "evaluation_0"
TOY_TASK = "toy_example_0"
# The task holding the trained model: /output/model/query and model_warehouse name it.
MODEL_TASK = {"hetero_lr": "lr_0", "hetero_linr": "linr_0"}
COMPONENT = {"hetero_lr": "coordinated_lr", "hetero_linr": "coordinated_linr", "example": "toy_example"}
EVALUATION_SETTING = {"hetero_lr": "binary", "hetero_linr": "regression"}

# Defaults are FATE's own examples' (pipeline examples coordinated_lr / coordinated_linr, flow test toy).
# None means "leave it to the component's own default".
DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {
    "hetero_lr": {
        "epochs": 10,
        "batch_size": 300,
        "learning_rate": 0.1,
        "optimizer": "SGD",
        "penalty": "l2",
        "alpha": 0.001,
        "init_method": "zeros",
        "fit_intercept": True,
        "learning_rate_scheduler": {
            "method": "linear",
            "scheduler_params": {"start_factor": 0.7, "total_iters": 100},
        },
        "early_stop": None,
        "tol": None,
        "threshold": None,
        "job_conf": None,
    },
    "hetero_linr": {
        "epochs": 10,
        "batch_size": 100,
        "learning_rate": 0.01,
        "optimizer": "rmsprop",
        "penalty": None,
        "alpha": 0.001,
        "init_method": None,
        "fit_intercept": True,
        "learning_rate_scheduler": None,
        "early_stop": None,
        "tol": None,
        "threshold": None,
        "job_conf": None,
    },
    "example": {
        "data_num": 1024,
        "partition": 4,
        "job_conf": None,
    },
}


class DagError(ValueError):
    """The inputs cannot make a valid job; the message says which and how to fix it."""


@dataclass(frozen=True)
class TableRef:
    """A FATE table, named as FATE names it."""

    namespace: str
    name: str

    @classmethod
    def of(cls, value: TableRef | Mapping[str, Any] | Iterable[str], what: str = "table") -> TableRef:
        if isinstance(value, TableRef):
            return value
        if isinstance(value, Mapping):
            namespace, name = value.get("namespace"), value.get("name")
        else:
            items = list(value)
            if len(items) != 2:
                raise DagError(f"{what} must be (namespace, name), got {value!r}")
            namespace, name = items
        if not namespace or not name:
            raise DagError(f"{what} needs both a namespace and a name, got {value!r}")
        return cls(str(namespace), str(name))


@dataclass(frozen=True)
class Parties:
    """Who plays which role. Party ids are strings, as in FATE's DAGs."""

    guest: str
    hosts: tuple[str, ...]
    arbiter: str

    @classmethod
    def of(cls, guest: str | int, hosts: Iterable[str | int], arbiter: str | int | None = None) -> Parties:
        host_ids = tuple(str(h) for h in hosts)
        if guest is None or str(guest) == "":
            raise DagError("a guest party id is required")
        if not host_ids:
            raise DagError("at least one host party id is required")
        duplicates = sorted({h for h in host_ids if host_ids.count(h) > 1})
        if duplicates:
            raise DagError(f"host party ids must be distinct, repeated: {', '.join(duplicates)}")
        # The project's convention (and FATE's examples'): the arbiter is the first host unless named.
        chosen = host_ids[0] if arbiter is None or str(arbiter) == "" else str(arbiter)
        return cls(str(guest), host_ids, chosen)


def _spec(role: str, party_ids: Iterable[str]) -> dict[str, Any]:
    return {"role": role, "party_id": list(party_ids)}


def _data_parties(parties: Parties) -> list[dict[str, Any]]:
    return [_spec("guest", [parties.guest]), _spec("host", parties.hosts)]


def _job_parties(parties: Parties, with_arbiter: bool = True) -> list[dict[str, Any]]:
    specs = _data_parties(parties)
    if with_arbiter:
        specs.append(_spec("arbiter", [parties.arbiter]))
    return specs


def _channel(producer: str, output_key: str, parties: list[dict[str, Any]]) -> dict[str, Any]:
    return {"producer_task": producer, "output_artifact_key": output_key, "parties": parties}


def merge_options(algorithm: str, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """FATE-example defaults overlaid with ``options``; unknown keys are an error, not silently dropped."""
    if algorithm not in DEFAULT_OPTIONS:
        raise DagError(f"unknown algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")
    merged = copy.deepcopy(DEFAULT_OPTIONS[algorithm])
    unknown = sorted(set(options or {}) - set(merged))
    if unknown:
        raise DagError(f"unknown option(s) for {algorithm}: {', '.join(unknown)}; known: {', '.join(sorted(merged))}")
    merged.update(copy.deepcopy(dict(options or {})))
    return merged


def _tables(
    parties: Parties,
    guest_table: TableRef | Mapping[str, Any] | Iterable[str] | None,
    host_tables: Mapping[Any, Any] | None,
) -> tuple[TableRef, dict[str, TableRef]]:
    if guest_table is None:
        raise DagError(f"a table for guest {parties.guest} is required")
    guest = TableRef.of(guest_table, f"table of guest {parties.guest}")
    given = {str(k): v for k, v in (host_tables or {}).items()}
    missing = [h for h in parties.hosts if h not in given]
    if missing:
        raise DagError(f"no table given for host(s) {', '.join(missing)}: upload their data first")
    extra = sorted(set(given) - set(parties.hosts))
    if extra:
        raise DagError(f"tables given for party ids that are not hosts of this job: {', '.join(extra)}")
    return guest, {h: TableRef.of(given[h], f"table of host {h}") for h in parties.hosts}


def _reader_party_tasks(parties: Parties, guest_table: TableRef, host_tables: Mapping[str, TableRef]) -> dict[str, Any]:
    def entry(role: str, party_id: str, table: TableRef) -> dict[str, Any]:
        return {
            "parties": [_spec(role, [party_id])],
            "tasks": {READER_TASK: {"parameters": {"namespace": table.namespace, "name": table.name}}},
        }

    party_tasks = {f"guest_{parties.guest}": entry("guest", parties.guest, guest_table)}
    for host in parties.hosts:
        party_tasks[f"host_{host}"] = entry("host", host, host_tables[host])
    return party_tasks


def _reader_and_psi(parties: Parties) -> dict[str, Any]:
    data_parties = _data_parties(parties)
    return {
        READER_TASK: {
            "component_ref": "reader",
            "parties": data_parties,
            "parameters": {},
            "stage": "default",
        },
        PSI_TASK: {
            "component_ref": "psi",
            "dependent_tasks": [READER_TASK],
            "inputs": {
                "data": {"input_data": {"task_output_artifact": _channel(READER_TASK, "output_data", data_parties)}}
            },
            "parties": data_parties,
            "parameters": {},
            "stage": "default",
        },
    }


def _early_stop(parties: Parties, requested: str | None) -> str | None:
    """With several hosts the arbiter cannot compute the loss, so only weight_diff can stop training."""
    if len(parties.hosts) < 2:
        return requested
    if requested in (None, "weight_diff"):
        return "weight_diff"
    raise DagError(
        f"early_stop {requested!r} needs the loss, which FATE cannot compute with {len(parties.hosts)} hosts: "
        "use early_stop 'weight_diff' (the default with several hosts)"
    )


def _model_parameters(algorithm: str, parties: Parties, opts: Mapping[str, Any]) -> dict[str, Any]:
    optimizer: dict[str, Any] = {
        "method": opts["optimizer"],
        "optimizer_params": {"lr": opts["learning_rate"]},
    }
    if opts.get("penalty") is not None:
        optimizer["penalty"] = opts["penalty"]
    if opts.get("alpha") is not None:
        optimizer["alpha"] = opts["alpha"]
    init_param: dict[str, Any] = {"fit_intercept": bool(opts["fit_intercept"])}
    if opts.get("init_method") is not None:
        init_param["method"] = opts["init_method"]
    parameters: dict[str, Any] = {
        "epochs": opts["epochs"],
        "batch_size": opts["batch_size"],
        "optimizer": optimizer,
        "init_param": init_param,
    }
    for key in ("learning_rate_scheduler", "tol"):
        if opts.get(key) is not None:
            parameters[key] = opts[key]
    early_stop = _early_stop(parties, opts.get("early_stop"))
    if early_stop is not None:
        parameters["early_stop"] = early_stop
    if algorithm == "hetero_lr" and opts.get("threshold") is not None:
        parameters["threshold"] = opts["threshold"]
    return parameters


def _schema(dag: dict[str, Any]) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "dag": dag}


# FATE 2.2's job conf (JobConfSpec) as this project accepts it: key -> (type, what a valid value is).
_POSITIVE = "a positive integer"
JOB_CONF_KEYS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "priority": (int, "a non-negative integer (higher runs first)"),
    "scheduler_party_id": ((str, int), "a party id of the job"),
    "inheritance": (dict, '{"job_id": "<finished job>", "task_list": ["reader_0", ...]}'),
    "cores": (int, _POSITIVE),
    "computing_partitions": (int, _POSITIVE),
    "sync_type": (str, "poll or callback"),
    "auto_retries": (int, "a non-negative integer"),
    "model_warehouse": (dict, '{"model_id": ..., "model_version": ...}'),
    "task": (dict, '{"timeout": seconds, "provider": "fate:2.2.0@local", "engine_run": {"cores": n}}'),
    "extra": (dict, "an object"),
}
TASK_CONF_KEYS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "timeout": (int, _POSITIVE),
    "provider": (str, "a provider name such as fate:2.2.0@local"),
    "engine_run": (dict, 'an object such as {"cores": 2}'),
    "launcher_name": (str, "a launcher name"),
}


def _check_keys(conf: Mapping[str, Any], known: Mapping[str, tuple[Any, str]], where: str) -> None:
    for key, value in conf.items():
        if key not in known:
            raise DagError(f"{where} has no option {key!r}; known: {', '.join(sorted(known))}")
        kind, meaning = known[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            raise DagError(f"{where}.{key} must be {meaning}, got {value!r}")
        if isinstance(value, int) and (value < 0 or (value == 0 and meaning == _POSITIVE)):
            raise DagError(f"{where}.{key} must be {meaning}, got {value}")


def check_job_conf(conf: Mapping[str, Any]) -> dict[str, Any]:
    """Check job options against FATE 2.2's job conf before FATE-Flow sees them; returns a normalised copy."""
    _check_keys(conf, JOB_CONF_KEYS, "job_conf")
    checked = copy.deepcopy(dict(conf))
    if "sync_type" in checked and checked["sync_type"] not in ("poll", "callback"):
        raise DagError(f"job_conf.sync_type must be poll or callback, got {checked['sync_type']!r}")
    if "scheduler_party_id" in checked:
        checked["scheduler_party_id"] = str(checked["scheduler_party_id"])
    inheritance = checked.get("inheritance")
    if inheritance is not None:
        task_list = inheritance.get("task_list")
        if set(inheritance) != {"job_id", "task_list"} or not isinstance(task_list, list) or not task_list:
            raise DagError(f"job_conf.inheritance must be {JOB_CONF_KEYS['inheritance'][1]}, got {inheritance!r}")
        inheritance["job_id"] = str(inheritance["job_id"])
        inheritance["task_list"] = [str(task) for task in task_list]
    if "task" in checked:
        _check_keys(checked["task"], TASK_CONF_KEYS, "job_conf.task")
    warehouse = checked.get("model_warehouse")
    if warehouse is not None and set(warehouse) != {"model_id", "model_version"}:
        raise DagError(f"job_conf.model_warehouse must be {JOB_CONF_KEYS['model_warehouse'][1]}")
    return checked


def _job_conf(opts: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    conf = check_job_conf(opts.get("job_conf") or {})
    conf.update(extra or {})
    return conf or None


def training_dag(
    algorithm: str,
    guest: str | int,
    hosts: Iterable[str | int],
    arbiter: str | int | None,
    guest_table: TableRef | Mapping[str, Any] | Iterable[str],
    host_tables: Mapping[Any, Any],
    options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Reader -> PSI -> CoordinatedLR|CoordinatedLinR -> Evaluation, for hetero_lr or hetero_linr."""
    if algorithm not in SUPERVISED_ALGORITHMS:
        raise DagError(f"{algorithm!r} is not a training algorithm; choose {' or '.join(SUPERVISED_ALGORITHMS)}")
    parties = Parties.of(guest, hosts, arbiter)
    guest_ref, host_refs = _tables(parties, guest_table, host_tables)
    opts = merge_options(algorithm, options)
    data_parties = _data_parties(parties)
    model_task = MODEL_TASK[algorithm]

    tasks = _reader_and_psi(parties)
    tasks[model_task] = {
        "component_ref": COMPONENT[algorithm],
        "dependent_tasks": [PSI_TASK],
        "inputs": {"data": {"train_data": {"task_output_artifact": _channel(PSI_TASK, "output_data", data_parties)}}},
        "parameters": _model_parameters(algorithm, parties, opts),
    }
    tasks[EVALUATION_TASK] = {
        "component_ref": "evaluation",
        "dependent_tasks": [model_task],
        "inputs": {
            "data": {
                # A list: Evaluation takes several inputs (input_datas).
                "input_datas": {
                    "task_output_artifact": [
                        _channel(model_task, "train_output_data", [_spec("guest", [parties.guest])])
                    ]
                }
            }
        },
        "parties": [_spec("guest", [parties.guest])],
        "parameters": {"default_eval_setting": EVALUATION_SETTING[algorithm]},
        "stage": "default",
    }
    dag: dict[str, Any] = {
        "parties": _job_parties(parties),
        "party_tasks": _reader_party_tasks(parties, guest_ref, host_refs),
        "stage": "train",
        "tasks": tasks,
    }
    conf = _job_conf(opts)
    if conf:
        dag["conf"] = conf
    return _schema(dag)


def hetero_lr_dag(
    guest: str | int,
    hosts: Iterable[str | int],
    arbiter: str | int | None,
    guest_table: TableRef | Mapping[str, Any] | Iterable[str],
    host_tables: Mapping[Any, Any],
    options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Hetero logistic regression (binary): Reader -> PSI -> CoordinatedLR (lr_0) -> Evaluation."""
    return training_dag("hetero_lr", guest, hosts, arbiter, guest_table, host_tables, options)


def hetero_linr_dag(
    guest: str | int,
    hosts: Iterable[str | int],
    arbiter: str | int | None,
    guest_table: TableRef | Mapping[str, Any] | Iterable[str],
    host_tables: Mapping[Any, Any],
    options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Hetero linear regression: Reader -> PSI -> CoordinatedLinR (linr_0) -> regression Evaluation."""
    return training_dag("hetero_linr", guest, hosts, arbiter, guest_table, host_tables, options)


def toy_example_dag(
    guest: str | int, hosts: Iterable[str | int], options: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """FATE's installation self-test (what ``flow test toy`` submits): toy_example on guest and hosts.

    It makes its own data, so no tables; there is no arbiter role.
    """
    parties = Parties.of(guest, hosts)
    opts = merge_options("example", options)
    dag: dict[str, Any] = {
        "parties": _job_parties(parties, with_arbiter=False),
        "stage": "default",
        "tasks": {
            TOY_TASK: {
                "component_ref": COMPONENT["example"],
                "parameters": {"data_num": opts["data_num"], "partition": opts["partition"]},
            }
        },
    }
    conf = _job_conf(opts)
    if conf:
        dag["conf"] = conf
    return _schema(dag)


def build_dag(
    algorithm: str,
    guest: str | int,
    hosts: Iterable[str | int],
    arbiter: str | int | None = None,
    guest_table: TableRef | Mapping[str, Any] | Iterable[str] | None = None,
    host_tables: Mapping[Any, Any] | None = None,
    options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The training DAG of ``algorithm`` (one of ALGORITHMS); ``example`` ignores tables and arbiter."""
    if algorithm == "example":
        return toy_example_dag(guest, hosts, options)
    if algorithm in SUPERVISED_ALGORITHMS:
        return training_dag(algorithm, guest, hosts, arbiter, guest_table, host_tables or {}, options)
    raise DagError(f"unknown algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")


def predict_dag(
    algorithm: str,
    model_id: str,
    model_version: str | int,
    guest: str | int,
    hosts: Iterable[str | int],
    arbiter: str | int | None,
    guest_table: TableRef | Mapping[str, Any] | Iterable[str],
    host_tables: Mapping[Any, Any],
    options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Score tables with a trained model the FATE way: Reader -> PSI -> the model task in predict stage.

    ``model_id``/``model_version`` are the training job's (model_id is its job id, version "0"); the model
    is taken from that job's model task (lr_0 / linr_0) through ``conf.model_warehouse``. FATE's scores
    land in the model task's output data (GET /output/data/display, task lr_0 or linr_0, role guest).
    """
    if algorithm not in SUPERVISED_ALGORITHMS:
        raise DagError(f"only {' and '.join(SUPERVISED_ALGORITHMS)} models can predict, not {algorithm!r}")
    if not model_id:
        raise DagError("model_id (the training job id) is required to predict")
    parties = Parties.of(guest, hosts, arbiter)
    guest_ref, host_refs = _tables(parties, guest_table, host_tables)
    opts = merge_options(algorithm, {k: v for k, v in (options or {}).items() if k == "job_conf"})
    data_parties = _data_parties(parties)
    model_task = MODEL_TASK[algorithm]

    tasks = _reader_and_psi(parties)
    tasks[model_task] = {
        "component_ref": COMPONENT[algorithm],
        "dependent_tasks": [PSI_TASK],
        "inputs": {
            "data": {"test_data": {"task_output_artifact": [_channel(PSI_TASK, "output_data", data_parties)]}},
            "model": {"input_model": {"model_warehouse": _channel(model_task, "output_model", data_parties)}},
        },
    }
    dag: dict[str, Any] = {
        "conf": _job_conf(opts, {"model_warehouse": {"model_id": str(model_id), "model_version": str(model_version)}}),
        "parties": _job_parties(parties),
        "party_tasks": _reader_party_tasks(parties, guest_ref, host_refs),
        "stage": "predict",
        "tasks": tasks,
    }
    return _schema(dag)
