"""Serving end to end: real guest, host and single-party services in subprocesses on loopback ephemeral ports.

One module-wide set of processes serves every test (starting them is the slow part):
- host: parties 10000 and 10004, its own data directory;
- guest: party 9999, its own data directory, peers 10000/10004 -> host, 10001 -> a closed port, 10002 -> a socket
  that accepts connections but never answers; remote timeout 1 s;
- single: party 1 playing guest and host in one process (the seed's single-host example).
Tests run in file order; the restart test comes last.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
sys.path.insert(0, str(FIXTURES / "serving"))

import serving_harness as harness
from fateops_serving import (
    ServingModel,
    bind_service,
    build_feature_store,
    feature_store_path,
    party_dir,
    write_model,
)
from fateops_serving.fate_output import model_from_fate_output

INFERENCE = "/federation/v1/inference"
BATCH = "/federation/v1/batchInference"
PARTIAL = "/federation/v1/partial"
BATCH_PARTIAL = "/federation/v1/batchPartial"
REMOTE_TIMEOUT = 1.0


@dataclass
class Cluster:
    directory: Path
    guest_data: Path
    host_data: Path
    single_data: Path
    guest: harness.Service
    host: harness.Service
    single: harness.Service
    guest_party: harness.Party
    host_party: harness.Party
    second_host_party: harness.Party
    single_guest: harness.Party
    single_host: harness.Party


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def silent_socket() -> Iterator[socket.socket]:
    """Accepts TCP connections (the kernel completes the handshake) but never reads or answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    yield listener
    listener.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, silent_socket: socket.socket) -> Iterator[Cluster]:
    directory = tmp_path_factory.mktemp("serving")
    guest_data, host_data, single_data = directory / "guest-data", directory / "host-data", directory / "single-data"
    guest = harness.make_guest("9999", 2)
    host = harness.make_host("10000", 1)
    second_host = harness.make_host("10004", 3, header=("y0", "y1", "y2"))
    recorded_host = harness.make_host("10005", 7)
    homes = {"10000": host_data, "10004": host_data}

    def install(
        service_id: str,
        model_id: str,
        hosts: list[harness.Party],
        algorithm: str = "hetero_lr",
        host_homes: dict[str, Path] = homes,
    ) -> None:
        harness.install_model(
            guest_data,
            service_id=service_id,
            model_id=model_id,
            model_version="0",
            guest=guest,
            hosts=hosts,
            host_data_dirs=host_homes,
            algorithm=algorithm,
        )

    install("lr", "m-lr", [host])
    install("linr", "m-linr", [host], algorithm="hetero_linr")
    install("two-hosts", "m-two", [host, second_host])
    # Hosts whose models are elsewhere or nowhere: only the guest's part matters for these.
    for service_id, party_id in (("dead", "10001"), ("hang", "10002"), ("nowhere", "10003")):
        unreachable = harness.make_host(party_id, 4)
        install(service_id, f"m-{service_id}", [unreachable], host_homes={party_id: directory / "elsewhere"})
    _write_guest_only(guest_data, "no-host-model", "m-nohost", guest, ["10000"])
    _write_guest_only(guest_data, "sbt", "m-sbt", guest, ["10000"], algorithm="hetero_secureboost")

    single_guest = harness.make_guest("1", 5)
    single_host = harness.make_host("1", 6)
    harness.install_model(
        single_data,
        service_id="single",
        model_id="m-single",
        model_version="0",
        guest=single_guest,
        hosts=[single_host],
    )

    host_service = harness.make_service(
        directory, "host", data_dir=str(host_data), party_ids=["10000", "10004", "10005"]
    )
    single_service = harness.make_service(directory, "single", data_dir=str(single_data), party_ids=[1])
    host_service.start()
    single_service.start()
    # A host absent from the guest's peers is reached at the address load_bind recorded in the guest's model.
    harness.install_model(
        guest_data,
        service_id="recorded",
        model_id="m-recorded",
        model_version="0",
        guest=guest,
        hosts=[recorded_host],
        host_data_dirs={"10005": host_data},
        host_addresses={"10005": host_service.address},
    )
    guest_service = harness.make_service(
        directory,
        "guest",
        data_dir=str(guest_data),
        party_ids=["9999"],
        peers={
            "10000": host_service.address,
            "10004": host_service.address,
            "10001": f"127.0.0.1:{_closed_port()}",
            "10002": f"127.0.0.1:{silent_socket.getsockname()[1]}",
        },
        remote_timeout_seconds=REMOTE_TIMEOUT,
    )
    try:
        guest_service.start()
        yield Cluster(
            directory,
            guest_data,
            host_data,
            single_data,
            guest_service,
            host_service,
            single_service,
            guest,
            host,
            second_host,
            single_guest,
            single_host,
        )
    finally:
        for service in (guest_service, host_service, single_service):
            service.stop()


def _write_guest_only(
    data_dir: Path, service_id: str, model_id: str, guest: harness.Party, hosts: list[str], algorithm: str = "hetero_lr"
) -> None:
    servable = algorithm in ("hetero_lr", "hetero_linr")
    directory = party_dir(data_dir, guest.party_id)
    write_model(
        directory,
        ServingModel(
            model_id=model_id,
            model_version="0",
            role="guest",
            party_id=guest.party_id,
            algorithm=algorithm,
            header=guest.header if servable else (),
            coef=guest.coef if servable else (),
            intercept=guest.intercept,
            guest_party_id=guest.party_id,
            host_party_ids=tuple(hosts),
        ),
    )
    bind_service(directory, service_id, model_id, "0")


def _infer(cluster: Cluster, service_id: str, features: object, row_id: object = None) -> dict:
    status, answer = harness.call(cluster.guest.url(INFERENCE), harness.inference_request(service_id, features, row_id))
    assert status == 200
    return answer


def test_health_lists_the_bound_services(cluster: Cluster) -> None:
    status, answer = harness.call(cluster.guest.url("/health"))
    assert status == 200
    assert answer["retcode"] == 0
    assert answer["data"]["status"] == "UP"
    assert "lr" in answer["data"]["services"]["9999"]
    _, host_answer = harness.call(cluster.host.url("/health"))
    assert set(host_answer["data"]["services"]) == {"10000", "10004", "10005"}


@pytest.mark.parametrize("seed", range(5))
def test_lr_inference_matches_the_reference_math(cluster: Cluster, seed: int) -> None:
    features = harness.guest_features(seed)
    row_id = harness.ROW_IDS[seed * 7]
    answer = _infer(cluster, "lr", features, row_id)
    expected = harness.reference_prob(
        harness.reference_score(cluster.guest_party, features, [cluster.host_party], row_id)
    )
    assert answer["retcode"] == 0, answer
    assert answer["retmsg"] == "success"
    assert answer["data"]["prob"] == pytest.approx(expected, abs=1e-12)
    assert answer["data"]["score"] == answer["data"]["prob"]
    assert (answer["data"]["modelId"], answer["data"]["modelVersion"]) == ("m-lr", "0")
    assert isinstance(answer["data"]["timestamp"], int)


def test_positional_features_and_integer_ids_work(cluster: Cluster) -> None:
    features = harness.guest_features(11)
    by_name = _infer(cluster, "lr", features, "u011")
    by_position = _infer(cluster, "lr", [features[name] for name in harness.GUEST_HEADER], "u011")
    assert by_position["data"]["prob"] == by_name["data"]["prob"]


def test_a_host_missing_from_peers_is_reached_at_its_recorded_address(cluster: Cluster) -> None:
    features = harness.guest_features(9)
    host = harness.make_host("10005", 7)
    answer = _infer(cluster, "recorded", features, "u009")
    expected = harness.reference_prob(harness.reference_score(cluster.guest_party, features, [host], "u009"))
    assert answer["data"]["prob"] == pytest.approx(expected, abs=1e-12)


def test_linr_inference_answers_the_summed_score(cluster: Cluster) -> None:
    features = harness.guest_features(3)
    answer = _infer(cluster, "linr", features, "u003")
    expected = harness.reference_score(cluster.guest_party, features, [cluster.host_party], "u003")
    assert answer["retcode"] == 0
    assert "prob" not in answer["data"]
    assert answer["data"]["score"] == pytest.approx(expected, abs=1e-12)


def test_partial_scores_of_every_host_are_summed(cluster: Cluster) -> None:
    features = harness.guest_features(8)
    answer = _infer(cluster, "two-hosts", features, "u020")
    hosts = [cluster.host_party, cluster.second_host_party]
    expected = harness.reference_prob(harness.reference_score(cluster.guest_party, features, hosts, "u020"))
    assert answer["data"]["prob"] == pytest.approx(expected, abs=1e-12)


def test_simultaneous_inferences_share_host_calls_and_keep_their_own_answers(cluster: Cluster) -> None:
    """Requests reaching the guest in one event-loop turn are sent to each host as one batchPartial."""
    from fateops_serving.app import ServingApp
    from fateops_serving.config import load_config

    service = ServingApp(load_config(cluster.guest.config_path))
    posted: list[str] = []
    post = service._post

    async def counting_post(host: str, address: str, path: str, payload: dict) -> dict:
        posted.append(path)
        return await post(host, address, path, payload)

    service._post = counting_post  # type: ignore[method-assign]
    row_ids = [harness.ROW_IDS[n] for n in range(12)] + ["nobody-here"]
    hosts = [cluster.host_party, cluster.second_host_party]

    async def together() -> list[dict]:
        await service._open_session(None)
        try:
            documents = [
                harness.inference_request("two-hosts", harness.guest_features(n), row_id)
                for n, row_id in enumerate(row_ids)
            ]
            return await asyncio.gather(
                *(service.inference(d) for d in documents[:-1]), _failure(service, documents[-1])
            )
        finally:
            await service._close_session(None)

    answers = asyncio.run(together())
    for n, (row_id, answer) in enumerate(zip(row_ids[:-1], answers[:-1], strict=True)):
        features = harness.guest_features(n)
        expected = harness.reference_prob(harness.reference_score(cluster.guest_party, features, hosts, row_id))
        assert answer["data"]["prob"] == pytest.approx(expected, abs=1e-12), row_id
    assert answers[-1]["retcode"] == 2113
    assert posted == [BATCH_PARTIAL, BATCH_PARTIAL]  # one call per host for all 13 requests


async def _failure(service: object, document: dict) -> dict:
    from fateops_serving.errors import ServingError

    try:
        return await service.inference(document)  # type: ignore[attr-defined]
    except ServingError as error:
        return {"retcode": error.retcode, "retmsg": error.message}


def test_batch_inference_answers_each_row_in_request_order(cluster: Cluster) -> None:
    good = harness.guest_features(1)
    rows = [
        {"index": 7, "featureData": good, "sendToRemoteFeatureData": {"id": "u001"}},
        {"index": 3, "featureData": {"x0": 1.0}, "sendToRemoteFeatureData": {"id": "u001"}},
        {"index": 5, "featureData": {**good, "x2": "high"}, "sendToRemoteFeatureData": {"id": "u001"}},
        {"index": 0, "featureData": good, "sendToRemoteFeatureData": {"id": "nobody-here"}},
        {"index": 1, "featureData": good},
        {"index": 2, "featureData": good, "sendToRemoteFeatureData": {"id": "u002"}},
    ]
    status, answer = harness.call(
        cluster.guest.url(BATCH), {"head": {"serviceId": "two-hosts"}, "body": {"batchDataList": rows}}
    )
    assert status == 200 and answer["retcode"] == 0
    assert answer["data"]["modelId"] == "m-two"
    results = answer["batchDataList"]
    assert [r["index"] for r in results] == [7, 3, 5, 0, 1, 2]
    assert [r["retcode"] for r in results] == [0, 102, 116, 2113, 100, 0]
    hosts = [cluster.host_party, cluster.second_host_party]
    for result, row_id in ((results[0], "u001"), (results[5], "u002")):
        expected = harness.reference_prob(harness.reference_score(cluster.guest_party, good, hosts, row_id))
        assert result["data"]["prob"] == pytest.approx(expected, abs=1e-12)
    single = _infer(cluster, "two-hosts", good, "u001")
    assert results[0]["data"]["prob"] == single["data"]["prob"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"batchDataList": []}, "non-empty list"),
        ({"batchDataList": [{"featureData": {}}]}, "index must be an integer"),
        ({"batchDataList": [{"index": 1}, {"index": 1}]}, "repeat"),
        ({"batchDataList": [{"index": i} for i in range(1001)]}, "more than max_batch_size 1000"),
    ],
)
def test_malformed_batches_are_refused_whole(cluster: Cluster, body: dict, words: str) -> None:
    _, answer = harness.call(cluster.guest.url(BATCH), {"head": {"serviceId": "lr"}, "body": body})
    assert answer["retcode"] == 100
    assert words in answer["retmsg"]


GOOD = harness.guest_features(0)


@pytest.mark.parametrize(
    ("service_id", "features", "row_id", "retcode", "words"),
    [
        ("no-such-service", GOOD, "u001", 104, "no model is bound to service id 'no-such-service'"),
        ("lr", {k: v for k, v in GOOD.items() if k != "x3"}, "u001", 102, "missing: x3"),
        ("lr", [1.0, 2.0], "u001", 102, "has 2 values, the model expects 5"),
        ("lr", {**GOOD, "x1": "high"}, "u001", 116, "feature 'x1' is not a finite number"),
        ("lr", GOOD, "nobody-here", 2113, "host party 10000: the id is not in the feature store"),
        ("lr", GOOD, None, 100, "sendToRemoteFeatureData"),
        ("sbt", GOOD, "u001", 123, "'hetero_secureboost' model, which cannot be served"),
        ("nowhere", GOOD, "u001", 106, "no serving address for host party 10003"),
        ("no-host-model", GOOD, "u001", 2104, "party 10000 has no host model m-nohost/0"),
        ("dead", GOOD, "u001", 105, "remote rpc exception: cannot connect to host party 10001"),
    ],
)
def test_inference_errors_have_distinct_retcodes(
    cluster: Cluster, service_id: str, features: object, row_id: object, retcode: int, words: str
) -> None:
    started = time.monotonic()
    answer = _infer(cluster, service_id, features, row_id)
    assert answer["retcode"] == retcode, answer
    assert words in answer["retmsg"]
    assert "data" not in answer
    assert time.monotonic() - started < REMOTE_TIMEOUT  # none of these waits for a timeout


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"body": {}}', "head must be an object"),
        (b'{"head": {}, "body": {}}', "head.serviceId is required"),
        (b'{"head": {"serviceId": "lr"}, "body": []}', "body must be an object"),
        (b'{"head": {"serviceId": "lr"}, "body": {"featureData": "x0=1"}}', "featureData must be an object"),
    ],
)
def test_malformed_requests_answer_100(cluster: Cluster, raw: bytes, words: str) -> None:
    status, answer = harness.call(cluster.guest.url(INFERENCE), raw=raw)
    assert status == 200
    assert answer["retcode"] == 100
    assert words in answer["retmsg"]


def test_a_host_that_never_answers_costs_one_bounded_timeout(cluster: Cluster) -> None:
    started = time.monotonic()
    answer = _infer(cluster, "hang", GOOD, "u001")
    elapsed = time.monotonic() - started
    assert answer["retcode"] == 105
    assert "host party 10002 at 127.0.0.1:" in answer["retmsg"]
    assert "did not answer within 1 s" in answer["retmsg"]
    assert REMOTE_TIMEOUT * 0.9 <= elapsed < REMOTE_TIMEOUT + 2.0


def test_a_batch_to_a_silent_host_is_bounded_too(cluster: Cluster) -> None:
    rows = [{"index": i, "featureData": GOOD, "sendToRemoteFeatureData": {"id": "u001"}} for i in range(3)]
    started = time.monotonic()
    _, answer = harness.call(cluster.guest.url(BATCH), {"head": {"serviceId": "hang"}, "body": {"batchDataList": rows}})
    assert answer["retcode"] == 105
    assert time.monotonic() - started < REMOTE_TIMEOUT + 2.0


def _partial_head(**overrides: str) -> dict:
    return {"modelId": "m-lr", "modelVersion": "0", "guestPartyId": "9999", "hostPartyId": "10000", **overrides}


def test_host_partial_answers_only_its_score(cluster: Cluster) -> None:
    status, answer = harness.call(
        cluster.host.url(PARTIAL), {"head": _partial_head(), "body": {"sendToRemoteFeatureData": {"id": "u005"}}}
    )
    assert status == 200
    assert answer["retcode"] == 0
    assert set(answer["data"]) == {"score"}  # no features, no weights
    host = cluster.host_party
    expected = sum(w * x for w, x in zip(host.coef, host.rows["u005"], strict=True))
    assert answer["data"]["score"] == pytest.approx(expected, abs=1e-12)


def test_host_batch_partial_answers_per_row(cluster: Cluster) -> None:
    rows = [{"index": 4, "sendToRemoteFeatureData": {"id": "u004"}}, {"index": 9, "sendToRemoteFeatureData": {}}]
    _, answer = harness.call(
        cluster.host.url(BATCH_PARTIAL), {"head": _partial_head(), "body": {"batchDataList": rows}}
    )
    assert answer["retcode"] == 0
    first, second = answer["batchDataList"]
    assert (first["index"], first["retcode"], set(first["data"])) == (4, 0, {"score"})
    assert (second["index"], second["retcode"]) == (9, 100)


@pytest.mark.parametrize(
    ("head", "send", "retcode", "words"),
    [
        (_partial_head(guestPartyId="8888"), {"id": "u001"}, 121, "serves guest 9999, not 8888"),
        (_partial_head(modelId="unknown"), {"id": "u001"}, 104, "no host model unknown/0"),
        (_partial_head(hostPartyId="10009"), {"id": "u001"}, 106, "not served at this address"),
        (_partial_head(modelId="../../etc"), {"id": "u001"}, 100, "modelId"),
        (_partial_head(), {"id": "nobody-here"}, 113, "not in the feature store"),
        (_partial_head(), {"id": 1.5}, 100, "matches on is missing or is not a string or integer"),
    ],
)
def test_host_partial_errors(cluster: Cluster, head: dict, send: dict, retcode: int, words: str) -> None:
    _, answer = harness.call(cluster.host.url(PARTIAL), {"head": head, "body": {"sendToRemoteFeatureData": send}})
    assert answer["retcode"] == retcode, answer
    assert words in answer["retmsg"]


def test_unknown_endpoints_answer_json_122(cluster: Cluster) -> None:
    status, answer = harness.call(cluster.guest.url("/federation/v2/whatever"), {"head": {}})
    assert (status, answer["retcode"]) == (404, 122)
    status, answer = harness.call(cluster.guest.url(INFERENCE), method="GET")
    assert (status, answer["retcode"]) == (404, 122)


def test_single_party_playing_guest_and_host(cluster: Cluster) -> None:
    features = harness.guest_features(21)
    _, answer = harness.call(cluster.single.url(INFERENCE), harness.inference_request("single", features, "u021"))
    expected = harness.reference_prob(
        harness.reference_score(cluster.single_guest, features, [cluster.single_host], "u021")
    )
    assert answer["retcode"] == 0
    assert answer["data"]["prob"] == pytest.approx(expected, abs=1e-12)
    # The in-process host path fails with the same codes as the remote one.
    _, missing = harness.call(cluster.single.url(INFERENCE), harness.inference_request("single", features, "nobody"))
    assert missing["retcode"] == 2113


def _breast_parties() -> tuple[list[list[float]], dict[str, float]]:
    """FATE's breast example data, rebuilt: scikit-learn's copy, standardized, guest x0..x9 + host x0..x19, and
    FATE's own predictions for it, captured from the training job and from a predict job on the same rows."""
    datasets = pytest.importorskip("sklearn.datasets")
    outputs = FIXTURES / "fate_outputs"
    needed = ["output_model_lr_guest.json", "output_model_lr_host.json"]
    displays = [outputs / "output_data_display_lr_guest.json", outputs / "output_data_display_lr_predict_guest.json"]
    if not all((outputs / name).is_file() for name in needed) or not any(path.is_file() for path in displays):
        pytest.skip("FATE's captured LR model and predictions are not in tests/unit/fixtures/fate_outputs")
    features = datasets.load_breast_cancer().data
    columns = list(zip(*features.tolist(), strict=True))
    standardized = []
    for column in columns:
        mean = sum(column) / len(column)
        deviation = (sum((v - mean) ** 2 for v in column) / len(column)) ** 0.5
        standardized.append([(v - mean) / deviation for v in column])
    rows = [list(row) for row in zip(*standardized, strict=True)]
    predictions: dict[str, float] = {}
    for path in displays:
        if path.is_file():
            for table in json.loads(path.read_text()).values():
                # Rows are [sample id, id, label, predict_score, predict_result, predict_detail, type].
                predictions.update({row[1]: row[3] for row in table[0]["data"]})
    return rows, predictions


def _install_fate_model(
    guest_dir: Path, host_dir: Path, guest_party: str, host_party: str, rows: list[list[float]], service_id: str
) -> None:
    """load_bind's steps with FATE's real model outputs: convert, write, build the host store, bind."""
    outputs = FIXTURES / "fate_outputs"
    host_model = model_from_fate_output(
        json.loads((outputs / "output_model_lr_host.json").read_text()),
        model_id="breast",
        model_version="0",
        role="host",
        party_id=host_party,
        guest_party_id=guest_party,
        algorithm="hetero_lr",
        feature_store="host_features.sqlite",
    )
    guest_model = model_from_fate_output(
        json.loads((outputs / "output_model_lr_guest.json").read_text()),
        model_id="breast",
        model_version="0",
        role="guest",
        party_id=guest_party,
        guest_party_id=guest_party,
        host_party_ids=[host_party],
    )
    host_directory = party_dir(host_dir, host_party)
    write_model(host_directory, host_model)
    csv_path = host_dir / f"breast_hetero_host_{host_party}.csv"
    csv_path.write_text(
        "id,"
        + ",".join(host_model.header)
        + "\n"
        + "".join(f"{i}," + ",".join(repr(v) for v in row[10:]) + "\n" for i, row in enumerate(rows))
    )
    build_feature_store(csv_path, feature_store_path(host_directory, "breast", "0"), "id", host_model.header)
    bind_service(host_directory, service_id, "breast", "0")
    guest_directory = party_dir(guest_dir, guest_party)
    write_model(guest_directory, guest_model)
    bind_service(guest_directory, service_id, "breast", "0")


@pytest.mark.parametrize("form", ["two-parties", "single-party"])
def test_fate_trained_models_give_fates_own_predictions(cluster: Cluster, form: str) -> None:
    rows, predictions = _breast_parties()
    if form == "two-parties":
        _install_fate_model(cluster.guest_data, cluster.host_data, "9999", "10000", rows, "breast")
        service = cluster.guest
    else:
        # The same trained weights, served the single-host way: party 1 as guest and host in one service.
        _install_fate_model(cluster.single_data, cluster.single_data, "1", "1", rows, "breast")
        service = cluster.single
    guest_header = [f"x{i}" for i in range(10)]
    batch = [
        {
            "index": n,
            "featureData": dict(zip(guest_header, rows[int(row_id)][:10], strict=True)),
            "sendToRemoteFeatureData": {"id": row_id},
        }
        for n, row_id in enumerate(predictions)
    ]
    # Bound while the services run: no restart, the next request sees the new service.
    _, answer = harness.call(service.url(BATCH), {"head": {"serviceId": "breast"}, "body": {"batchDataList": batch}})
    assert answer["retcode"] == 0
    got = {row_id: result["data"]["prob"] for row_id, result in zip(predictions, answer["batchDataList"], strict=True)}
    assert len(got) == len(predictions) >= 50
    for row_id, fate_prob in predictions.items():
        assert got[row_id] == pytest.approx(fate_prob, abs=1e-6), row_id
    first = next(iter(predictions))
    _, single = harness.call(
        service.url(INFERENCE), harness.inference_request("breast", batch[0]["featureData"], int(first))
    )
    assert single["data"]["prob"] == pytest.approx(predictions[first], abs=1e-6)


def test_rebinding_swaps_models_atomically_under_load(cluster: Cluster) -> None:
    new_guest = harness.make_guest("9999", 12)
    new_host = harness.make_host("10000", 13)
    features = harness.guest_features(4)
    seen: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            answer = _infer(cluster, "lr", features, "u004")
            seen.append((answer["retcode"], answer.get("data", {}).get("modelVersion")))

    with ThreadPoolExecutor(max_workers=3) as pool:
        workers = [pool.submit(hammer) for _ in range(3)]
        time.sleep(0.2)
        # load_bind's order: hosts first, then the guest, whose binding switches the service in one rename.
        harness.install_model(
            cluster.guest_data,
            service_id="lr",
            model_id="m-lr",
            model_version="1",
            guest=new_guest,
            hosts=[new_host],
            host_data_dirs={"10000": cluster.host_data},
        )
        time.sleep(0.3)
        stop.set()
        for worker in workers:
            worker.result()
    assert {retcode for retcode, _ in seen} == {0}
    versions = [version for _, version in seen]
    assert "0" in versions and versions[-1] == "1"
    answer = _infer(cluster, "lr", features, "u004")
    expected = harness.reference_prob(harness.reference_score(new_guest, features, [new_host], "u004"))
    assert answer["data"]["prob"] == pytest.approx(expected, abs=1e-12)


def test_sighup_rereads_from_disk_without_stopping(cluster: Cluster) -> None:
    cluster.guest.signal(signal.SIGHUP)
    time.sleep(0.2)
    assert _infer(cluster, "lr", GOOD, "u001")["retcode"] == 0
    assert "SIGHUP" in cluster.guest.log()


def test_restarted_services_predict_again_without_a_new_load_bind(cluster: Cluster) -> None:
    before = _infer(cluster, "lr", GOOD, "u009")
    cluster.host.pin_port()
    cluster.host.stop()
    down = _infer(cluster, "lr", GOOD, "u009")
    assert down["retcode"] == 105
    cluster.host.start()
    # The guest's kept-alive connection to the old host process is dead; it reconnects by itself.
    assert _infer(cluster, "lr", GOOD, "u009") == before
    cluster.guest.stop()
    cluster.guest.start()
    assert _infer(cluster, "lr", GOOD, "u009") == before
    cluster.single.stop()
    cluster.single.start()
    _, answer = harness.call(cluster.single.url(INFERENCE), harness.inference_request("single", GOOD, "u001"))
    assert answer["retcode"] == 0


def test_logs_have_one_line_per_error_and_no_feature_values_or_ids(cluster: Cluster) -> None:
    for service in (cluster.guest, cluster.host, cluster.single):
        log = service.log()
        assert "Traceback" not in log
        assert "high" not in log and "nobody-here" not in log
        for value in list(GOOD.values())[:3]:
            assert repr(value) not in log
    errors = [line for line in cluster.guest.log().splitlines() if " ERROR " in line]
    assert any("retcode=105" in line for line in errors)
    assert all(line.startswith("20") for line in errors)  # every error is one timestamped line


def test_a_bad_configuration_exits_with_one_clear_line(tmp_path: Path) -> None:
    config = tmp_path / "serving.yaml"
    config.write_text("data_dir: d\nparty_ids: [1]\nremote_timout_seconds: 3\n")
    result = subprocess.run(
        [sys.executable, "-m", "fateops_serving", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PYTHONPATH": str(harness.SERVING_DIR)},
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "unknown keys: remote_timout_seconds" in lines[0]
