"""fate_http_ready against a real HTTP server on loopback: a service that starts late, basic authentication, one
that never answers (named in the failure, its password nowhere), and a URL that is not HTTP."""

from __future__ import annotations

import base64
import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from ansible_collections.fateops.federation.plugins.modules import fate_http_ready
from module_runner import module_exits, run_module  # noqa: F401
from test_fate_flow_client import free_port

SECRET = "s3cret-broker-pass"


class Service:
    """Answers GET with the next status of `statuses` (the last one for ever), 401 without the expected login."""

    def __init__(self, statuses: list[int], login: tuple[str, str] | None = None) -> None:
        self.statuses = statuses
        self.login = login
        self.calls = 0
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                service.calls += 1
                status = service.statuses[min(service.calls, len(service.statuses)) - 1]
                if service.login:
                    expected = "Basic " + base64.b64encode(":".join(service.login).encode()).decode()
                    if self.headers.get("Authorization") != expected:
                        status = 401
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health"

    def __enter__(self) -> Service:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def late() -> Iterator[Service]:
    with Service([503, 503, 200]) as service:
        yield service


def test_waits_for_a_service_that_starts_late(late: Service):
    outcome, result = run_module(
        fate_http_ready.main,
        {"endpoints": [{"name": "serving service", "url": late.url}], "wait_timeout": 10, "poll_interval": 0.01},
    )
    assert outcome == "exit", result
    assert result["changed"] is False and late.calls == 3


def test_several_endpoints_and_basic_authentication(late: Service):
    with Service([200], login=("fate", SECRET)) as broker:
        endpoints = [
            {"name": "broker", "url": broker.url, "username": "fate", "password": SECRET},
            {"name": "serving service", "url": late.url},
        ]
        outcome, result = run_module(
            fate_http_ready.main, {"endpoints": endpoints, "wait_timeout": 10, "poll_interval": 0.01}
        )
    assert outcome == "exit", result
    # The broker answered at once and was not asked again while the other one started.
    assert (broker.calls, late.calls) == (1, 3)


def test_a_wrong_password_is_a_timeout_naming_the_endpoint_and_not_the_password():
    with Service([200], login=("fate", SECRET)) as broker:
        endpoints = [{"name": "broker", "url": broker.url, "username": "fate", "password": "wrong-" + SECRET}]
        outcome, result = run_module(
            fate_http_ready.main, {"endpoints": endpoints, "wait_timeout": 0.2, "poll_interval": 0.05}
        )
    assert outcome == "fail"
    assert result["msg"].startswith(f"no answer within 0.2 s from broker ({broker.url}): status 401")
    assert SECRET not in str(result)


def test_a_service_nobody_runs_fails_in_bounded_time():
    url = f"http://127.0.0.1:{free_port()}/api/overview"
    outcome, result = run_module(
        fate_http_ready.main,
        {"endpoints": [{"name": "broker", "url": url}], "wait_timeout": 0.3, "poll_interval": 0.05},
    )
    assert outcome == "fail"
    assert "broker (" + url + ")" in result["msg"] and "raise the wait timeout" in result["msg"]


def test_a_url_that_is_not_http_is_refused():
    outcome, result = run_module(fate_http_ready.main, {"endpoints": [{"name": "broker", "url": "file:///etc/passwd"}]})
    assert outcome == "fail"
    assert "is not http(s)" in result["msg"]
