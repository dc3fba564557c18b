# Copyright: fateops contributors
# Apache License 2.0 (see LICENSE)
"""How the client reaches FATE-Flow: HTTP(S), retries, client authentication, multipart bodies and envelopes.

:class:`FateFlowTransport` is the base of both API clients (``fate_flow_v2.FateFlowClient`` below ``/v2``,
``fate_flow_v1.FateFlowClientV1`` below ``/v1``); it knows nothing of jobs, tables or models. Every answer of
FATE-Flow 2.x is an envelope ``{"code", "message", "data", "job_id"}`` sent with HTTP 200 even on errors.

Retries: only on connection errors, with exponential backoff. A request whose connection failed before the
request was sent is always safe to repeat. Once the request may have reached the server, only idempotent
calls (GETs and the few POSTs marked so) are repeated: a job submit, an upload or a model import that reached
FATE-Flow is never sent twice.

Standard library only: it runs inside Ansible modules on party hosts and inside the controller library alike.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import secrets
import socket
import ssl
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

from ansible_collections.fateops.federation.plugins.module_utils.fate_flow_errors import (
    CODE_SUCCESS,
    FateFlowConnectionError,
    FateFlowError,
)

DEFAULT_PORT = 9380

# Failures after the request may have reached FATE-Flow; repeated only for idempotent calls.
_RETRY_AFTER_SEND = (
    ConnectionResetError,
    BrokenPipeError,
    http.client.RemoteDisconnected,
    http.client.IncompleteRead,
    TimeoutError,
    socket.timeout,
)


@dataclass(frozen=True)
class ClientAuth:
    """FATE-Flow's client authentication (``authentication.client: true`` in service_conf.yaml).

    The signature is md5(md5(app_id + user_name + nonce + timestamp) + app_token), both as lower-case hex;
    the timestamp is in milliseconds and FATE-Flow rejects it after 60 s, so headers are made per request.
    """

    app_id: str
    app_token: str = field(repr=False)
    user_name: str = ""

    def headers(self, timestamp_ms: int | None = None, nonce: str | None = None) -> dict[str, str]:
        timestamp = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
        # FATE-Flow checks for exactly four characters; its own client uses four digits.
        nonce = nonce if nonce is not None else f"{secrets.randbelow(10000):04d}"
        inner = hashlib.md5((self.app_id + self.user_name + nonce + timestamp).encode("utf-8")).hexdigest()
        signature = hashlib.md5((inner + self.app_token).encode("utf-8")).hexdigest()
        return {
            "appId": self.app_id,
            "userName": self.user_name,
            "Timestamp": timestamp,
            "Nonce": nonce,
            "Signature": signature,
        }


@dataclass(frozen=True)
class Envelope:
    """FATE-Flow's answer to one call."""

    code: int
    message: str
    data: Any
    job_id: str | None = None


def _multipart(fields: Mapping[str, str], files: Mapping[str, Path]) -> tuple[bytes, str]:
    boundary = f"fateops-{uuid.uuid4().hex}"
    parts: list[bytes] = []
    for key, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
    for key, path in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"; filename="{path.name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        parts.append(head.encode() + path.read_bytes() + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


TransportT = TypeVar("TransportT", bound="FateFlowTransport")


class FateFlowTransport:
    """HTTP to one FATE-Flow, below the API prefix of the subclass (``api_prefix``).

    ``base_url`` is ``http(s)://host:port[/path]``, or ``host`` and ``port``. ``timeout`` bounds each HTTP request
    (seconds); ``retries`` is how many times a connection error is retried, waiting ``backoff``, 2x``backoff``,
    4x``backoff``... in between. ``dest_party_id`` sends every call to that party's FATE-Flow through the proxy
    at ``base_url`` (a party's nginx or the exchange), in the header FATE-Flow itself names the party with.
    """

    api_prefix = ""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        auth: ClientAuth | None = None,
        dest_party_id: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if base_url is None:
            base_url = f"http://{host}:{port}"
        if "://" not in base_url:
            base_url = f"http://{base_url}"
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"FATE-Flow address {base_url!r} is not an http(s)://host:port URL")
        self.base_url = base_url.rstrip("/")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else DEFAULT_PORT)
        self._path_prefix = parts.path.rstrip("/") + self.api_prefix
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.auth = auth
        self.dest_party_id = dest_party_id
        self._ssl_context = ssl_context
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"

    def as_api(self, api: type[TransportT]) -> TransportT:
        """A client of another API class (v1 or v2) for the same FATE-Flow, with the same settings."""
        return api(
            self.base_url,
            timeout=self.timeout,
            retries=self.retries,
            backoff=self.backoff,
            auth=self.auth,
            dest_party_id=self.dest_party_id,
            ssl_context=self._ssl_context,
            sleep=self._sleep,
        )

    def pause(self, seconds: float) -> None:
        """Sleep between retries or polls, on the clock the client was given (tests give a fake one)."""
        self._sleep(seconds)

    def _connection(self) -> http.client.HTTPConnection:
        if self._scheme == "https":
            return http.client.HTTPSConnection(self._host, self._port, timeout=self.timeout, context=self._ssl_context)
        return http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)

    def _send_once(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
        """One HTTP exchange; an error carries ``fateops_sent``: whether the request may have left."""
        connection = self._connection()
        try:
            try:
                # Connecting on its own tells "nothing was sent" (safe to repeat) from a later failure.
                connection.connect()
            except OSError as exc:
                exc.fateops_sent = False  # type: ignore[attr-defined]
                raise
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                return response.status, response.read()
            except (OSError, http.client.HTTPException) as exc:
                exc.fateops_sent = True  # type: ignore[union-attr]
                raise
        finally:
            connection.close()

    def _exchange(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        idempotent: bool,
    ) -> tuple[int, bytes]:
        path = self._path_prefix + endpoint
        query = {k: v for k, v in (params or {}).items() if v is not None}
        if query:
            path += "?" + urlencode({k: _query_value(v) for k, v in query.items()})
        attempt = 0
        while True:
            headers = {"Accept": "application/json"}
            if self.dest_party_id is not None:
                headers["dest-party-id"] = self.dest_party_id
            if content_type:
                headers["Content-Type"] = content_type
            if self.auth is not None:
                headers.update(self.auth.headers())
            try:
                return self._send_once(method, path, body, headers)
            except (OSError, http.client.HTTPException) as exc:
                sent = getattr(exc, "fateops_sent", True)
                if sent:
                    retryable = idempotent and isinstance(exc, _RETRY_AFTER_SEND)
                else:
                    # Nothing left this host: refused, unreachable, unresolvable or a connect timeout.
                    # A TLS failure (bad certificate) will not heal by waiting.
                    retryable = not isinstance(exc, ssl.SSLError)
                if not retryable or attempt >= self.retries:
                    cause = f"{exc.__class__.__name__}: {exc}"
                    if sent and not idempotent:
                        advice = (
                            "The request may have reached FATE-Flow, so it was not repeated: "
                            "check what FATE-Flow did (e.g. its job list) before trying again"
                        )
                    else:
                        advice = "Check that FATE-Flow runs and listens on this address and port"
                    raise FateFlowConnectionError(
                        f"cannot reach FATE-Flow at {self.base_url} after {attempt + 1} attempt(s): {cause}. " + advice,
                        endpoint=endpoint,
                    ) from exc
                self.pause(self.backoff * (2**attempt))
                attempt += 1

    def call(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        files: Mapping[str, Path] | None = None,
        idempotent: bool | None = None,
        allow_codes: Iterable[int] = (),
        bare: bool = False,
    ) -> Envelope:
        """Call ``endpoint`` (below /v2) and return its envelope; raise FateFlowError unless code is 0.

        ``allow_codes`` lists non-zero codes returned as an envelope instead of raised (e.g. "no such table").
        ``bare``: the endpoint answers success with plain JSON, not an envelope (the /output/data views do);
        that JSON becomes ``data``, while an answer with a ``code`` is still an envelope.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method == "GET"
        body: bytes | None = None
        content_type: str | None = None
        if files:
            body, content_type = _multipart(form or {}, files)
        elif json_body is not None:
            body, content_type = json.dumps(json_body).encode("utf-8"), "application/json"
        status, raw = self._exchange(
            method,
            endpoint,
            params=params,
            body=body,
            content_type=content_type,
            idempotent=idempotent,
        )
        envelope = parse_bare(endpoint, status, raw) if bare else parse_envelope(endpoint, status, raw)
        if envelope.code != CODE_SUCCESS and envelope.code not in set(allow_codes):
            raise FateFlowError(
                envelope.message or "no message", endpoint=endpoint, code=envelope.code, data=envelope.data
            )
        return envelope

    def download(self, endpoint: str, params: Mapping[str, Any]) -> bytes:
        """GET a file answer (tar archives of output data or models); FATE's JSON error becomes an error."""
        status, raw = self._exchange("GET", endpoint, params=params, idempotent=True)
        if status == 200 and raw[:1] == b"{":
            envelope = parse_envelope(endpoint, status, raw)
            raise FateFlowError(envelope.message, endpoint=endpoint, code=envelope.code, data=envelope.data)
        if status != 200:
            raise FateFlowError(answer_snippet(raw), endpoint=endpoint, http_status=status)
        return raw


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def answer_snippet(raw: bytes, limit: int = 300) -> str:
    text = raw.decode("utf-8", "replace").strip()
    return text if len(text) <= limit else text[:limit] + "..."


def parse_bare(endpoint: str, status: int, raw: bytes) -> Envelope:
    try:
        payload = json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, ValueError):
        payload = None
    if isinstance(payload, dict) and "code" in payload:
        return parse_envelope(endpoint, status, raw)
    if payload is None or status != 200:
        raise FateFlowError(
            f"not a FATE-Flow answer: {answer_snippet(raw) or 'empty body'}", endpoint=endpoint, http_status=status
        )
    return Envelope(code=CODE_SUCCESS, message="", data=payload)


def parse_envelope(endpoint: str, status: int, raw: bytes) -> Envelope:
    try:
        payload = json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, ValueError):
        payload = None
    if not isinstance(payload, dict) or "code" not in payload:
        # A proxy in front of FATE-Flow (nginx) answers with its own HTML pages.
        raise FateFlowError(
            f"not a FATE-Flow answer: {answer_snippet(raw) or 'empty body'}",
            endpoint=endpoint,
            http_status=status,
        )
    try:
        code = int(payload["code"])
    except (TypeError, ValueError):
        raise FateFlowError(
            f"FATE-Flow answered with a non-numeric code {payload['code']!r}", endpoint=endpoint
        ) from None
    message = payload.get("message")
    return Envelope(
        code=code,
        message=str(message if message is not None else ""),
        data=payload.get("data"),
        job_id=payload.get("job_id"),
    )
