"""Secrets handed to the facade: out of the re-exec's argv and environment, through an inherited pipe or stdin."""

from __future__ import annotations

import io
import os

import pytest

from fateops import credentials
from fateops.credentials import EXCHANGE_PASSWORD_ENV, SECRETS_FD_ENV, hand_over, split_passwords
from fateops.errors import UsageError


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(credentials, "_taken", None)
    monkeypatch.delenv(SECRETS_FD_ENV, raising=False)
    monkeypatch.delenv(EXCHANGE_PASSWORD_ENV, raising=False)


@pytest.mark.parametrize(
    ("argv", "rest", "passwords"),
    [
        (["-f", "deploy", "-id", "1", "2", "-pw", "a", "b", "-ip", "x", "y"], ["-f", "deploy", "-id", "1", "2",
         "-ip", "x", "y"], ["a", "b"]),
        (["-f", "deploy", "--password", "a", "-5"], ["-f", "deploy"], ["a", "-5"]),
        (["-f", "deploy", "--pass", "a"], ["-f", "deploy"], ["a"]),
        (["-f", "deploy", "--password=a=b", "-id", "1"], ["-f", "deploy", "-id", "1"], ["a=b"]),
        (["-f", "deploy", "-pw=a"], ["-f", "deploy"], ["a"]),
        # argparse keeps the last occurrence; every one leaves argv.
        (["-pw", "old", "-id", "1", "-pw", "new"], ["-id", "1"], ["new"]),
        (["-f", "upload", "--project", "p"], ["-f", "upload", "--project", "p"], None),
        # `-pw -` is no secret: stdin holds them, and stays the re-exec's stdin.
        (["-f", "deploy", "-pw", "-", "-id", "1"], ["-f", "deploy", "-pw", "-", "-id", "1"], None),
    ],
)  # fmt: skip
def test_split_passwords(argv: list[str], rest: list[str], passwords: list[str] | None):
    assert split_passwords(argv) == (rest, passwords)


def test_the_re_exec_gets_the_secrets_through_a_pipe_only(monkeypatch: pytest.MonkeyPatch):
    environ = {"PATH": "/usr/bin", EXCHANGE_PASSWORD_ENV: "hub-secret"}
    argv, env, read_end = hand_over(["-f", "deploy", "-id", "1", "-pw", "pw-secret"], environ)
    assert read_end is not None and os.get_inheritable(read_end)
    assert argv == ["-f", "deploy", "-id", "1"]
    assert env == {"PATH": "/usr/bin", SECRETS_FD_ENV: str(read_end)}
    assert "secret" not in " ".join(argv) + " ".join(f"{k}={v}" for k, v in env.items())

    # The re-exec'd process: reads the pipe once, closes it and forgets the fd's name.
    monkeypatch.setenv(SECRETS_FD_ENV, str(read_end))
    assert credentials.passwords(None, ["1"], io.StringIO()) == ["pw-secret"]
    assert credentials.exchange_password() == "hub-secret"
    assert SECRETS_FD_ENV not in os.environ
    with pytest.raises(OSError):
        os.fstat(read_end)


def test_nothing_to_hand_over_means_no_pipe():
    argv, env, read_end = hand_over(["-f", "query", "-jid", "J"], {"PATH": "/usr/bin"})
    assert (argv, env, read_end) == (["-f", "query", "-jid", "J"], {"PATH": "/usr/bin"}, None)


def test_the_exchange_password_leaves_the_environment_at_start(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(EXCHANGE_PASSWORD_ENV, "hub-secret")
    assert credentials.take().exchange_password == "hub-secret"
    assert EXCHANGE_PASSWORD_ENV not in os.environ
    # Read once: later calls get the same value.
    assert credentials.exchange_password() == "hub-secret"


def test_passwords_from_stdin_one_per_id():
    stdin = io.StringIO("first pw\nsecond\r\nthird\n")
    assert credentials.passwords(["-"], ["9999", "10000"], stdin) == ["first pw", "second"]


def test_passwords_from_stdin_too_few_lines():
    with pytest.raises(UsageError, match=r"-pw - expects 2 password\(s\) on stdin, one per line, and got 1"):
        credentials.passwords(["-"], ["9999", "10000"], io.StringIO("only\n"))


def test_given_passwords_pass_unchanged():
    assert credentials.passwords(["a", "b"], ["1", "2"], io.StringIO()) == ["a", "b"]
    assert credentials.passwords(None, ["1"], io.StringIO()) is None


def test_a_bad_fd_is_one_clear_line(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(SECRETS_FD_ENV, "x")
    with pytest.raises(UsageError, match="must be a file descriptor number; unset it"):
        credentials.take()


def test_handed_secrets_repr_hides_them():
    assert "pw" not in repr(credentials.HandedSecrets(["pw"], "pw"))
