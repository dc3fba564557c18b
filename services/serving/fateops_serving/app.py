"""The HTTP service: FATE-Serving's inference API for guests, the partial-score API for hosts, health.

    POST /federation/v1/inference        guest: one row      {"head": {"serviceId"}, "body": {"featureData",
                                                              "sendToRemoteFeatureData"}}
    POST /federation/v1/batchInference   guest: many rows    {"head": {"serviceId"}, "body": {"batchDataList":
                                                              [{"index", "featureData", "sendToRemoteFeatureData"}]}}
    POST /federation/v1/partial          host: one id        {"head": PartialRequest, "body":
                                                              {"sendToRemoteFeatureData"}}
    POST /federation/v1/batchPartial     host: many ids      {"head": PartialRequest, "body": {"batchDataList":
                                                              [{"index", "sendToRemoteFeatureData"}]}}
    GET  /health

A guest sends a host only the model key and sendToRemoteFeatureData; a host answers only w.x. Every answer is
HTTP 200 with {"retcode", "retmsg", ...} (FATE-Serving's shape) except an unknown path (404, retcode 122).
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp
from aiohttp import web

from .config import ServingConfig
from .errors import RetCode, ServingError, remote_retcode
from .model import ServingModel, features_in_header_order, guest_output, linear_score
from .repository import ModelRepository
from .scoring import PartialRequest, RowResult, host_partial_scores

logger = logging.getLogger("fateops_serving")

PARTIAL_PATH = "/federation/v1/partial"
BATCH_PARTIAL_PATH = "/federation/v1/batchPartial"
JSON_HEADERS = {"Content-Type": "application/json"}
# Connections kept open to each host party: enough for the guest's concurrency, bounded under overload.
CONNECTIONS_PER_HOST = 256
MAX_REQUEST_BYTES = 16 * 1024 * 1024

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def _json_response(document: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(document, separators=(",", ":")).encode(), status=status, content_type="application/json"
    )


def _failure(error: ServingError) -> dict[str, Any]:
    return {"retcode": error.retcode, "retmsg": error.message}


def _service_id(head: Any) -> str:
    if not isinstance(head, dict):
        raise ServingError(RetCode.PARAM_ERROR, "head must be an object with serviceId")
    service_id = head.get("serviceId")
    if isinstance(service_id, int) and not isinstance(service_id, bool):
        service_id = str(service_id)
    if not isinstance(service_id, str) or not service_id:
        raise ServingError(RetCode.PARAM_ERROR, "head.serviceId is required")
    return service_id


def _party_hint(head: dict[str, Any]) -> str | None:
    hint = head.get("partyId")
    return None if hint is None else str(hint)


def _body(document: dict[str, Any]) -> dict[str, Any]:
    body = document.get("body", {})
    if not isinstance(body, dict):
        raise ServingError(RetCode.PARAM_ERROR, "body must be an object")
    return body


def _model_fields(model: ServingModel) -> dict[str, Any]:
    return {"modelId": model.model_id, "modelVersion": model.model_version, "timestamp": model.timestamp}


class ServingApp:
    def __init__(self, config: ServingConfig) -> None:
        self.config = config
        self.repository = ModelRepository(config.data_dir, config.party_ids)
        self._own_parties = frozenset(config.party_ids)
        self._session: aiohttp.ClientSession | None = None
        self._pending: dict[tuple[PartialRequest, str], list[tuple[Any, asyncio.Future[RowResult]]]] = {}
        self._flushing: set[asyncio.Future[None]] = set()
        self._timeout = aiohttp.ClientTimeout(
            total=config.remote_timeout_seconds,
            connect=min(config.connect_timeout_seconds, config.remote_timeout_seconds),
        )

    def build(self) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_post("/federation/v1/inference", self._endpoint("inference", self.inference))
        app.router.add_post("/federation/v1/batchInference", self._endpoint("batchInference", self.batch_inference))
        app.router.add_post(PARTIAL_PATH, self._endpoint("partial", self.partial))
        app.router.add_post(BATCH_PARTIAL_PATH, self._endpoint("batchPartial", self.batch_partial))
        app.router.add_get("/health", self.health)
        app.router.add_route("*", "/{tail:.*}", self.not_found)
        app.on_startup.append(self._open_session)
        app.on_cleanup.append(self._close_session)
        return app

    async def _open_session(self, _app: web.Application) -> None:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=CONNECTIONS_PER_HOST, keepalive_timeout=30)
        self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)

    async def _close_session(self, _app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()

    def _endpoint(self, name: str, handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
        """Parse the JSON body, run handler, and turn any failure into the API's JSON with one log line."""

        async def endpoint(request: web.Request) -> web.Response:
            try:
                try:
                    document = json.loads(await request.read())
                except ValueError:
                    raise ServingError(RetCode.PARAM_ERROR, "the request body is not JSON") from None
                if not isinstance(document, dict):
                    raise ServingError(RetCode.PARAM_ERROR, "the request body must be a JSON object")
                return _json_response(await handler(document))
            except ServingError as error:
                logger.error("%s retcode=%d %s", name, error.retcode, error.message)
                return _json_response(_failure(error))
            except web.HTTPException:
                raise
            except Exception as error:
                logger.error("%s retcode=%d unexpected %s: %s", name, RetCode.SYSTEM_ERROR, type(error).__name__, error)
                return _json_response({"retcode": int(RetCode.SYSTEM_ERROR), "retmsg": "internal error, see the log"})

        return endpoint

    # Guest side.

    async def inference(self, document: dict[str, Any]) -> dict[str, Any]:
        head = document.get("head")
        service_id = _service_id(head)
        body = _body(document)
        model = self.repository.guest_model(service_id, _party_hint(head))
        values = features_in_header_order(model, body.get("featureData"))
        total = linear_score(model.coef, values) + (model.intercept or 0.0)
        if model.host_party_ids:
            send = body.get("sendToRemoteFeatureData")
            if not isinstance(send, dict):
                raise ServingError(
                    RetCode.PARAM_ERROR,
                    "body.sendToRemoteFeatureData (the id the host parties match on) must be an object",
                )
            for host, rows in await self._ask_hosts(model, [(0, send)], single=True):
                row = rows[0]
                if row.retcode != RetCode.SUCCESS:
                    raise ServingError(remote_retcode(row.retcode), f"host party {host}: {row.retmsg}")
                total += row.score
        return {"retcode": 0, "retmsg": "success", "data": {**guest_output(model, total), **_model_fields(model)}}

    async def batch_inference(self, document: dict[str, Any]) -> dict[str, Any]:
        head = document.get("head")
        service_id = _service_id(head)
        items = _body(document).get("batchDataList")
        if not isinstance(items, list) or not items:
            raise ServingError(RetCode.PARAM_ERROR, "body.batchDataList must be a non-empty list")
        if len(items) > self.config.max_batch_size:
            raise ServingError(
                RetCode.PARAM_ERROR,
                f"body.batchDataList has {len(items)} rows, more than max_batch_size {self.config.max_batch_size}",
            )
        indexes = []
        for position, item in enumerate(items):
            index = item.get("index") if isinstance(item, dict) else None
            if isinstance(index, bool) or not isinstance(index, int):
                raise ServingError(RetCode.PARAM_ERROR, f"batchDataList[{position}].index must be an integer")
            indexes.append(index)
        if len(set(indexes)) != len(indexes):
            raise ServingError(RetCode.PARAM_ERROR, "batchDataList indexes repeat")
        model = self.repository.guest_model(service_id, _party_hint(head))

        results: dict[int, dict[str, Any]] = {}
        scores: dict[int, float] = {}
        to_hosts: list[tuple[int, Any]] = []
        for index, item in zip(indexes, items, strict=True):
            try:
                values = features_in_header_order(model, item.get("featureData"))
                send = item.get("sendToRemoteFeatureData")
                if model.host_party_ids and not isinstance(send, dict):
                    raise ServingError(RetCode.PARAM_ERROR, "sendToRemoteFeatureData must be an object")
            except ServingError as error:
                results[index] = {"index": index, **_failure(error)}
                continue
            scores[index] = linear_score(model.coef, values) + (model.intercept or 0.0)
            to_hosts.append((index, send))
        if model.host_party_ids and to_hosts:
            for host, rows in await self._ask_hosts(model, to_hosts, single=False):
                by_index = {row.index: row for row in rows}
                for index in list(scores):
                    row = by_index.get(index)
                    if row is not None and row.retcode == RetCode.SUCCESS:
                        scores[index] += row.score
                        continue
                    del scores[index]
                    if row is None:
                        retcode, retmsg = int(RetCode.INVALID_RESPONSE), f"host party {host} answered no score"
                    else:
                        retcode, retmsg = remote_retcode(row.retcode), f"host party {host}: {row.retmsg}"
                    results[index] = {"index": index, "retcode": retcode, "retmsg": retmsg}
        for index, total in scores.items():
            results[index] = {"index": index, "retcode": 0, "retmsg": "success", "data": guest_output(model, total)}
        failed = [results[i] for i in indexes if results[i]["retcode"] != 0]
        if failed:
            logger.error(
                "batchInference service=%s: %d of %d rows failed, first retcode=%d %s",
                service_id,
                len(failed),
                len(indexes),
                failed[0]["retcode"],
                failed[0]["retmsg"],
            )
        return {
            "retcode": 0,
            "retmsg": "success",
            "data": _model_fields(model),
            "batchDataList": [results[i] for i in indexes],
        }

    async def _ask_hosts(
        self, model: ServingModel, rows: Sequence[tuple[int, Any]], single: bool
    ) -> list[tuple[str, list[RowResult]]]:
        """Every host's partial scores for rows, asked concurrently; a host-wide failure raises ServingError."""
        hosts = model.host_party_ids
        if len(hosts) == 1:
            return [(hosts[0], await self._ask_host(model, hosts[0], rows, single))]
        answers = await asyncio.gather(
            *(self._ask_host(model, host, rows, single) for host in hosts), return_exceptions=True
        )
        for answer in answers:
            if isinstance(answer, BaseException):
                raise answer
        return list(zip(hosts, answers, strict=True))

    async def _ask_host(
        self, model: ServingModel, host: str, rows: Sequence[tuple[int, Any]], single: bool
    ) -> list[RowResult]:
        request = PartialRequest(model.model_id, model.model_version, model.party_id, host)
        if host in self._own_parties:
            # This service plays that host too: same scoring code, no network hop.
            try:
                return host_partial_scores(self.repository, request, rows)
            except ServingError as error:
                raise ServingError(remote_retcode(error.retcode), f"host party {host}: {error.message}") from None
        address = self.config.peers.get(host) or model.host_addresses.get(host)
        if not address:
            raise ServingError(
                RetCode.ROUTER_ERROR,
                f"no serving address for host party {host}: add it to peers in the serving configuration",
            )
        if single:
            index, send = rows[0]
            row = await self._coalesced_partial(request, host, address, send)
            return [RowResult(index, row.retcode, row.retmsg, row.score)]
        return await self._remote_partials(request, host, address, rows)

    async def _remote_partials(
        self, request: PartialRequest, host: str, address: str, rows: Sequence[tuple[int, Any]]
    ) -> list[RowResult]:
        if len(rows) == 1:
            payload = {"head": request.head(), "body": {"sendToRemoteFeatureData": rows[0][1]}}
            answer = await self._post(host, address, PARTIAL_PATH, payload)
            return [self._single_row(host, rows[0][0], answer)]
        payload = {
            "head": request.head(),
            "body": {"batchDataList": [{"index": i, "sendToRemoteFeatureData": send} for i, send in rows]},
        }
        return self._batch_rows(host, await self._post(host, address, BATCH_PARTIAL_PATH, payload))

    async def _coalesced_partial(self, request: PartialRequest, host: str, address: str, send: Any) -> RowResult:
        """One single inference's partial score from a remote host.

        Single inferences for the same host model that reach this point in the same event-loop turn (under load,
        requests arrive together) share one batchPartial call, flushed at the end of that turn: no request waits
        for another, and the guest and host spend one HTTP exchange instead of several.
        """
        key = (request, address)
        loop = asyncio.get_running_loop()
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = []
            loop.call_soon(self._flush, key, host)
        future: asyncio.Future[RowResult] = loop.create_future()
        pending.append((send, future))
        return await future

    def _flush(self, key: tuple[PartialRequest, str], host: str) -> None:
        task = asyncio.ensure_future(self._send_pending(key, host, self._pending.pop(key)))
        # The loop keeps only weak references to tasks.
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _send_pending(
        self, key: tuple[PartialRequest, str], host: str, pending: list[tuple[Any, asyncio.Future[RowResult]]]
    ) -> None:
        request, address = key
        try:
            rows = await self._remote_partials(request, host, address, [(i, s) for i, (s, _) in enumerate(pending)])
        except ServingError as error:
            for _, future in pending:
                if not future.done():
                    future.set_exception(ServingError(error.retcode, error.message))
            return
        except Exception as error:
            for _, future in pending:
                if not future.done():
                    future.set_exception(error)
            return
        by_index = {row.index: row for row in rows}
        for index, (_, future) in enumerate(pending):
            if future.done():
                continue
            row = by_index.get(index)
            if row is None:
                future.set_exception(
                    ServingError(RetCode.INVALID_RESPONSE, f"host party {host} answered no score for a row")
                )
            else:
                future.set_result(row)

    async def _post(self, host: str, address: str, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        assert self._session is not None
        url = f"http://{address}{path}"
        data = json.dumps(payload, separators=(",", ":")).encode()
        # The party the call is for: an exchange (star topology) routes on it, as it does FATE-Flow's calls.
        headers = {**JSON_HEADERS, "dest-party-id": str(host)}
        timeout_seconds = self.config.remote_timeout_seconds
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_seconds
        timeout = self._timeout
        try:
            for attempt in range(2):
                try:
                    async with self._session.post(url, data=data, headers=headers, timeout=timeout) as response:
                        status = response.status
                        content = await response.read()
                    break
                except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as error:
                    # A kept-alive connection the host closed (it restarted) fails on first use; the call only
                    # reads, so one retry on a fresh connection is safe. A refused connection is not retried.
                    remaining = deadline - loop.time()
                    if attempt or isinstance(error, aiohttp.ClientConnectorError) or remaining <= 0:
                        raise
                    timeout = aiohttp.ClientTimeout(total=remaining)
        except asyncio.TimeoutError:
            raise ServingError(
                RetCode.NET_ERROR,
                f"remote rpc exception: host party {host} at {address} did not answer within {timeout_seconds:g} s",
            ) from None
        except aiohttp.ClientConnectorError as error:
            raise ServingError(
                RetCode.NET_ERROR,
                f"remote rpc exception: cannot connect to host party {host} at {address} "
                f"({error.strerror or type(error).__name__})",
            ) from None
        except aiohttp.ClientError as error:
            raise ServingError(
                RetCode.NET_ERROR,
                f"remote rpc exception: host party {host} at {address} failed ({type(error).__name__})",
            ) from None
        if status != 200:
            raise ServingError(
                RetCode.NET_ERROR, f"remote rpc exception: host party {host} at {address} answered HTTP {status}"
            )
        try:
            answer = json.loads(content)
        except ValueError:
            answer = None
        retcode = answer.get("retcode") if isinstance(answer, dict) else None
        if isinstance(retcode, bool) or not isinstance(retcode, int):
            raise ServingError(RetCode.INVALID_RESPONSE, f"host party {host} at {address} answered no retcode")
        if retcode != RetCode.SUCCESS:
            raise ServingError(remote_retcode(retcode), f"host party {host}: {answer.get('retmsg', '')}")
        return answer

    @staticmethod
    def _score(value: Any, host: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ServingError(RetCode.INVALID_RESPONSE, f"host party {host} answered no numeric score")
        return float(value)

    def _single_row(self, host: str, index: int, answer: dict[str, Any]) -> RowResult:
        data = answer.get("data")
        return RowResult(index, 0, "success", self._score(data.get("score") if isinstance(data, dict) else None, host))

    def _batch_rows(self, host: str, answer: dict[str, Any]) -> list[RowResult]:
        rows = answer.get("batchDataList")
        if not isinstance(rows, list):
            raise ServingError(RetCode.INVALID_RESPONSE, f"host party {host} answered no batchDataList")
        results = []
        for row in rows:
            if (
                not isinstance(row, dict)
                or not isinstance(row.get("index"), int)
                or not isinstance(row.get("retcode"), int)
            ):
                raise ServingError(RetCode.INVALID_RESPONSE, f"host party {host} answered a malformed row")
            if row["retcode"] != RetCode.SUCCESS:
                results.append(RowResult(row["index"], row["retcode"], str(row.get("retmsg", ""))))
                continue
            data = row.get("data")
            score = self._score(data.get("score") if isinstance(data, dict) else None, host)
            results.append(RowResult(row["index"], 0, "success", score))
        return results

    # Host side.

    async def partial(self, document: dict[str, Any]) -> dict[str, Any]:
        request = PartialRequest.from_head(document.get("head"))
        send = _body(document).get("sendToRemoteFeatureData")
        row = host_partial_scores(self.repository, request, [(0, send)])[0]
        if row.retcode != RetCode.SUCCESS:
            raise ServingError(row.retcode, row.retmsg)
        return {"retcode": 0, "retmsg": "success", "data": {"score": row.score}}

    async def batch_partial(self, document: dict[str, Any]) -> dict[str, Any]:
        request = PartialRequest.from_head(document.get("head"))
        items = _body(document).get("batchDataList")
        if not isinstance(items, list) or len(items) > self.config.max_batch_size:
            raise ServingError(
                RetCode.PARAM_ERROR, f"body.batchDataList must be a list of at most {self.config.max_batch_size}"
            )
        rows = []
        for item in items:
            index = item.get("index") if isinstance(item, dict) else None
            if isinstance(index, bool) or not isinstance(index, int):
                raise ServingError(RetCode.PARAM_ERROR, "every batchDataList row needs an integer index")
            rows.append((index, item.get("sendToRemoteFeatureData")))
        results = host_partial_scores(self.repository, request, rows)
        return {
            "retcode": 0,
            "retmsg": "success",
            "batchDataList": [
                {"index": r.index, "retcode": int(r.retcode), "retmsg": r.retmsg}
                | ({"data": {"score": r.score}} if r.retcode == RetCode.SUCCESS else {})
                for r in results
            ],
        }

    # Both.

    async def health(self, _request: web.Request) -> web.Response:
        return _json_response(
            {"retcode": 0, "retmsg": "success", "data": {"status": "UP", "services": self.repository.summary()}}
        )

    async def not_found(self, request: web.Request) -> web.Response:
        return _json_response(
            {"retcode": int(RetCode.SERVICE_NOT_FOUND), "retmsg": f"no endpoint {request.method} {request.path}"},
            status=404,
        )

    def reload(self) -> None:
        self.repository.reload()


async def serve(config: ServingConfig) -> None:
    """Run until SIGTERM or SIGINT; SIGHUP re-reads bindings and models from disk."""
    service = ServingApp(config)
    runner = web.AppRunner(service.build(), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port, backlog=1024, reuse_address=True)
    try:
        await site.start()
    except OSError as error:
        await runner.cleanup()
        raise SystemExit(f"fateops_serving: cannot listen on {config.host}:{config.port}: {error.strerror}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, _reloader(service))
    host, port = runner.addresses[0][:2]
    logger.info("listening on %s:%d for party %s, data in %s", host, port, ",".join(config.party_ids), config.data_dir)
    await stop.wait()
    logger.info("stopping")
    await runner.cleanup()


def _reloader(service: ServingApp) -> Callable[[], None]:
    def reload() -> None:
        service.reload()
        logger.info("SIGHUP: bindings and models will be re-read from disk")

    return reload


def run(config: ServingConfig) -> None:
    import uvloop

    uvloop.run(serve(config))
