"""The secrets the facade is handed: ssh passwords (-pw) and the exchange host's password.

They never travel in argv or in an environment. script.py, when it re-executes itself inside the controller
environment, takes the -pw values out of the new argv and FATEOPS_EXCHANGE_PASSWORD out of the new environment,
writes both into a pipe the new process inherits, and names only the pipe's fd (FATEOPS_SECRETS_FD, not a secret).
`-pw -` reads the passwords from stdin instead, one per line, as many as -id values. What is read stays in this
process's memory: take() removes the fd and the exchange password from os.environ, so no child sees them.

Standard library only: script.py uses hand_over() under whatever python3 started it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from fateops.errors import UsageError

SECRETS_FD_ENV = "FATEOPS_SECRETS_FD"
# The exchange has no party id, so no -pw slot: its password, if its key is not installed yet, comes from here.
EXCHANGE_PASSWORD_ENV = "FATEOPS_EXCHANGE_PASSWORD"
PASSWORD_FLAGS = ("-pw", "--password")
# `-pw -`: the passwords come from stdin.
FROM_STDIN = "-"
# argparse takes a token for a value unless it looks like an option; a negative number is a value.
_NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")
# The pipe is written in full before the re-exec, so what it carries must fit in its buffer.
_PIPE_CAPACITY = 60_000


@dataclass(frozen=True)
class HandedSecrets:
    passwords: list[str] | None = field(default=None, repr=False)
    exchange_password: str | None = field(default=None, repr=False)


def _is_password_flag(token: str) -> bool:
    # argparse accepts any unambiguous prefix of a long option: --pa ... --password (--p is also --project).
    return token in PASSWORD_FLAGS or (len(token) >= 4 and "--password".startswith(token))


def _is_value(token: str) -> bool:
    return token == FROM_STDIN or not token.startswith("-") or bool(_NEGATIVE_NUMBER.match(token))


def split_passwords(argv: Sequence[str]) -> tuple[list[str], list[str] | None]:
    """argv without any -pw/--password option, and the values of the last one (argparse keeps the last).

    `-pw -` is no secret and stays in argv: the passwords then come from stdin, which the re-exec keeps.
    """
    rest: list[str] = []
    passwords: list[str] | None = None
    index = 0
    while index < len(argv):
        token = argv[index]
        if token == "--":
            rest.extend(argv[index:])
            break
        flag, _, attached = token.partition("=")
        if _is_password_flag(flag) and "=" in token:
            passwords, index = [attached], index + 1
            continue
        if not _is_password_flag(token):
            rest.append(token)
            index += 1
            continue
        values = []
        index += 1
        while index < len(argv) and _is_value(argv[index]):
            values.append(argv[index])
            index += 1
        passwords = values
    if passwords == [FROM_STDIN]:
        return list(argv), None
    return rest, passwords


def hand_over(argv: Sequence[str], environ: Mapping[str, str]) -> tuple[list[str], dict[str, str], int | None]:
    """For the re-exec: argv and environment without secrets, and the read end of an inheritable pipe that holds
    them (None when there is nothing to hand over)."""
    rest, passwords = split_passwords(argv)
    env = dict(environ)
    exchange_password = env.pop(EXCHANGE_PASSWORD_ENV, None)
    env.pop(SECRETS_FD_ENV, None)
    if passwords is None and exchange_password is None:
        return list(argv), env, None
    payload = json.dumps({"passwords": passwords, "exchange_password": exchange_password}).encode()
    if len(payload) > _PIPE_CAPACITY:
        raise UsageError("the -pw values are too long to hand over; pass them with -pw - on stdin")
    read_end, write_end = os.pipe()
    try:
        view = memoryview(payload)
        while view:
            view = view[os.write(write_end, view) :]
    finally:
        os.close(write_end)
    os.set_inheritable(read_end, True)
    env[SECRETS_FD_ENV] = str(read_end)
    return rest, env, read_end


def _read_fd(fd: int) -> HandedSecrets:
    try:
        with os.fdopen(fd, "rb", closefd=True) as pipe:
            data = json.loads(pipe.read().decode() or "{}")
    except (OSError, ValueError):
        raise UsageError(
            f"{SECRETS_FD_ENV}={fd} does not name a readable pipe of secrets; unset it (script.py sets it itself)"
        ) from None
    passwords = data.get("passwords")
    exchange_password = data.get("exchange_password")
    return HandedSecrets(
        [str(p) for p in passwords] if isinstance(passwords, list) else None,
        str(exchange_password) if exchange_password is not None else None,
    )


_taken: HandedSecrets | None = None


def take() -> HandedSecrets:
    """What this process was handed, read once: the pipe of the re-exec and/or FATEOPS_EXCHANGE_PASSWORD, both
    removed from os.environ so that no child process inherits them."""
    global _taken
    if _taken is None:
        fd_text = os.environ.pop(SECRETS_FD_ENV, None)
        handed = HandedSecrets()
        if fd_text is not None:
            if not fd_text.isdigit():
                raise UsageError(f"{SECRETS_FD_ENV} must be a file descriptor number; unset it")
            handed = _read_fd(int(fd_text))
        exchange_password = os.environ.pop(EXCHANGE_PASSWORD_ENV, None)
        _taken = HandedSecrets(handed.passwords, handed.exchange_password or exchange_password)
    return _taken


def passwords(given: list[str] | None, ids: list[str] | None, stdin: TextIO) -> list[str] | None:
    """The -pw values: handed over by the re-exec, read from stdin for `-pw -`, or as parsed."""
    handed = take().passwords
    if handed is not None:
        return handed
    if given != [FROM_STDIN]:
        return given
    wanted = len(ids or [])
    if wanted == 0:
        raise UsageError("-pw - reads one password per -id value from stdin; pass -id as well")
    lines = []
    for _ in range(wanted):
        line = stdin.readline()
        if not line:
            break
        lines.append(line.rstrip("\r\n"))
    if len(lines) < wanted:
        raise UsageError(f"-pw - expects {wanted} password(s) on stdin, one per line, and got {len(lines)}")
    return lines


def exchange_password() -> str | None:
    return take().exchange_password
