"""Bootstrap: from a host's ssh password to the workspace key, so that Ansible logs in with the key only.

Per host, over paramiko: connect (bounded timeouts), check the host key against the workspace's known_hosts
before any credential is sent, try the workspace key, and only if the host refuses it log in once with the
password, append the key to ~/.ssh/authorized_keys (never twice) and prove that the key now works. The host key
is recorded after a successful login; a host presenting another key than recorded is refused, never re-recorded.

The password lives in memory only: it is not logged (paramiko logs to a channel of its own that is silenced),
not put in an exception message, not written anywhere. Callers hold the workspace lock.
"""

from __future__ import annotations

import contextlib
import logging
import shlex
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paramiko

from fateops.errors import FateopsError
from fateops.ssh_keys import (
    SSH_PORT,
    HostKeyCheck,
    KeyPair,
    PublicKey,
    append_host_key,
    authorized_keys_addition,
    check_host_key,
    ensure_key_pair,
    host_key_changed_message,
    host_pattern,
    read_known_hosts,
    recorded_keys,
    ssh_paths,
)
from fateops.workspace import Workspace

DEFAULT_TIMEOUT = 10.0
DEFAULT_USER = "root"
# paramiko logs through this channel instead of "paramiko.transport"; see _quiet_log_channel.
LOG_CHANNEL = "fateops.bootstrap.ssh"
# Host key algorithms that can prove a key of each known_hosts type.
_ALGORITHMS_OF_TYPE = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")}
# Both run under /bin/sh whatever the user's login shell is; neither takes data on its command line.
_READ_AUTHORIZED_KEYS = 'cat "$HOME/.ssh/authorized_keys" 2>/dev/null; exit 0'
_APPEND_AUTHORIZED_KEYS = (
    'umask 077 && mkdir -p "$HOME/.ssh" && cat >> "$HOME/.ssh/authorized_keys" '
    # sshd (StrictModes) ignores keys in group- or world-writable places.
    '&& chmod go-w "$HOME/.ssh" "$HOME/.ssh/authorized_keys"'
)
# known_hosts is read, checked and rewritten as one step when several hosts are bootstrapped in parallel.
_KNOWN_HOSTS_LOCK = threading.Lock()


@dataclass(frozen=True)
class SshLogin:
    """One host to bootstrap; the password is left out of repr so that it cannot reach a log or a traceback."""

    host: str
    port: int = SSH_PORT
    user: str = DEFAULT_USER
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class BootstrapResult:
    host: str
    port: int
    user: str
    # False when the workspace key already worked: the password was not sent.
    used_password: bool
    # True when the key was appended to the host's authorized_keys by this run.
    key_installed: bool
    # True when the host key was new to the workspace's known_hosts and is now recorded.
    host_key_recorded: bool


def _quiet_log_channel() -> str:
    """A logger for paramiko that records nothing below WARNING and hands nothing to the application's handlers.

    paramiko never logs a password itself, but its DEBUG output and packet dumps are not ours to vouch for, and
    its error records would otherwise surface as tracebacks on stderr next to our one-line error.
    """
    logger = logging.getLogger(LOG_CHANNEL)
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    return LOG_CHANNEL


def _where(host: str, port: int) -> str:
    return host if port == SSH_PORT else f"{host} port {port}"


def _connect_socket(host: str, port: int, timeout: float) -> socket.socket:
    try:
        return socket.create_connection((host, port), timeout=timeout)
    except TimeoutError:
        raise FateopsError(
            f"host {host} is unreachable: ssh port {port} did not answer within {timeout:g}s; "
            "check the address and that sshd runs"
        ) from None
    except ConnectionRefusedError:
        raise FateopsError(
            f"host {host} refused the connection on ssh port {port}; check that sshd runs and listens there"
        ) from None
    except OSError as exc:
        raise FateopsError(
            f"host {host} is unreachable on ssh port {port} ({exc.strerror or exc}); check the address"
        ) from None


def _host_key_algorithms(recorded: list[PublicKey], offered: Sequence[str]) -> list[str]:
    """Ask only for host key algorithms known_hosts can vouch for, as OpenSSH does; [] means any."""
    wanted = {alg for key in recorded for alg in _ALGORITHMS_OF_TYPE.get(key.key_type, (key.key_type,))}
    return [alg for alg in offered if alg in wanted]


@dataclass
class _Session:
    transport: paramiko.Transport
    host_key: PublicKey


@contextlib.contextmanager
def _session(host: str, port: int, known_hosts: Path, timeout: float) -> Iterator[_Session]:
    """An ssh transport whose host key agrees with known_hosts (or is new); not yet authenticated."""
    known_text = read_known_hosts(known_hosts)
    recorded = recorded_keys(known_text, host, port)
    sock = _connect_socket(host, port, timeout)
    transport = paramiko.Transport(sock)
    try:
        transport.set_log_channel(_quiet_log_channel())
        transport.set_hexdump(False)
        transport.banner_timeout = timeout
        transport.handshake_timeout = timeout
        transport.auth_timeout = timeout
        options = transport.get_security_options()
        algorithms = _host_key_algorithms(recorded, options.key_types)
        if algorithms:
            options.key_types = algorithms
        try:
            transport.start_client(timeout=timeout)
            # start_client returns quietly when its timeout passes; this raises then.
            server_key = transport.get_remote_server_key()
        except (paramiko.SSHException, OSError, EOFError) as exc:
            if recorded and "host key" in str(exc).lower():
                # The host no longer offers any key of the recorded type(s): a changed host key as well.
                raise FateopsError(host_key_changed_message(host, port, known_hosts)) from None
            raise FateopsError(
                f"host {host}: no ssh handshake on port {port} within {timeout:g}s ({exc or type(exc).__name__}); "
                "check that sshd runs there"
            ) from None
        presented = PublicKey(server_key.get_name(), server_key.get_base64())
        verdict = check_host_key(known_text, host, port, presented)
        if verdict is HostKeyCheck.CHANGED:
            raise FateopsError(host_key_changed_message(host, port, known_hosts))
        if verdict is HostKeyCheck.REVOKED:
            raise FateopsError(
                f"the ssh host key of {host_pattern(host, port)} is marked @revoked in {known_hosts}; "
                "refusing to connect"
            )
        yield _Session(transport, presented)
    finally:
        transport.close()
        sock.close()


def _auth_timed_out(exc: paramiko.AuthenticationException) -> bool:
    return "timeout" in str(exc).lower()


def _key_accepted(session: _Session, host: str, user: str, pkey: paramiko.PKey, timeout: float) -> bool:
    try:
        session.transport.auth_publickey(user, pkey)
    except paramiko.BadAuthenticationType:
        return False
    except paramiko.AuthenticationException as exc:
        if _auth_timed_out(exc):
            raise FateopsError(f"host {host}: ssh login did not finish within {timeout:g}s; retry") from None
        return False
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise FateopsError(f"host {host}: the ssh connection broke during login ({exc}); retry") from None
    return session.transport.is_authenticated()


def _login_with_password(session: _Session, host: str, user: str, password: str, timeout: float) -> None:
    try:
        # fallback: servers that take passwords only through keyboard-interactive (PAM) get the same password.
        session.transport.auth_password(user, password, fallback=True)
    except paramiko.BadAuthenticationType as exc:
        allowed = ", ".join(exc.allowed_types) or "nothing"
        raise FateopsError(
            f"{user}@{host} does not accept password login (it allows: {allowed}); "
            "put the workspace key on it by hand or enable password login"
        ) from None
    except paramiko.AuthenticationException as exc:
        if _auth_timed_out(exc):
            raise FateopsError(f"host {host}: ssh login did not finish within {timeout:g}s; retry") from None
        raise FateopsError(f"authentication failed for {user}@{host}; check the -pw value") from None
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise FateopsError(f"host {host}: the ssh connection broke during login ({exc}); retry") from None
    if not session.transport.is_authenticated():
        raise FateopsError(
            f"{user}@{host} asks for more than a password to log in; put the workspace key on it by hand"
        )


def _run(session: _Session, host: str, script: str, stdin: bytes, timeout: float) -> tuple[int, bytes, bytes]:
    """Run a fixed shell script on the host; data goes through stdin, never through the command line."""
    deadline = time.monotonic() + timeout
    try:
        channel = session.transport.open_session(timeout=timeout)
        with contextlib.closing(channel):
            channel.settimeout(timeout)
            channel.exec_command(f"/bin/sh -c {shlex.quote(script)}")
            if stdin:
                channel.sendall(stdin)
            channel.shutdown_write()
            out = bytearray()
            while chunk := channel.recv(65536):
                out += chunk
            if not channel.status_event.wait(max(0.0, deadline - time.monotonic())):
                raise TimeoutError
            err = bytearray()
            while channel.recv_stderr_ready():
                err += channel.recv_stderr(65536)
            return channel.recv_exit_status(), bytes(out), bytes(err)
    except (TimeoutError, paramiko.SSHException, OSError, EOFError) as exc:
        reason = f"no answer within {timeout:g}s" if isinstance(exc, TimeoutError) else str(exc)
        raise FateopsError(f"host {host}: a command over ssh failed ({reason}); retry") from None


def _install_key(session: _Session, host: str, user: str, key: PublicKey, timeout: float) -> bool:
    """Append key to the user's authorized_keys unless it is there; True when appended."""
    _, existing, _ = _run(session, host, _READ_AUTHORIZED_KEYS, b"", timeout)
    addition = authorized_keys_addition(existing.decode(errors="replace"), key)
    if addition is None:
        return False
    rc, _, err = _run(session, host, _APPEND_AUTHORIZED_KEYS, addition.encode(), timeout)
    if rc != 0:
        detail = err.decode(errors="replace").strip().splitlines()[-1:] or [f"exit status {rc}"]
        raise FateopsError(f"could not add the workspace key to ~/.ssh/authorized_keys of {user}@{host}: {detail[0]}")
    return True


def _record_host_key(known_hosts: Path, host: str, port: int, key: PublicKey) -> bool:
    """Record a new host key; True when a line was added."""
    with _KNOWN_HOSTS_LOCK:
        try:
            return append_host_key(known_hosts, host, port, key)
        except ValueError:
            raise FateopsError(host_key_changed_message(host, port, known_hosts)) from None


def _load_private_key(key_pair: KeyPair) -> paramiko.PKey:
    return paramiko.Ed25519Key.from_private_key_file(str(key_pair.private_key))


def bootstrap_host(
    workspace: Workspace,
    host: str,
    port: int = SSH_PORT,
    user: str = DEFAULT_USER,
    password: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> BootstrapResult:
    """Make the workspace key work for user@host:port, using the password only if the key does not work yet.

    Raises FateopsError with one line naming the host and what to do: unreachable, handshake timeout, changed
    host key, wrong password, key refused and no password.
    """
    key_pair = ensure_key_pair(workspace)
    return _bootstrap(workspace, key_pair, SshLogin(host, port, user, password), timeout)


def _bootstrap(workspace: Workspace, key_pair: KeyPair, login: SshLogin, timeout: float) -> BootstrapResult:
    known_hosts = ssh_paths(workspace).known_hosts
    pkey = _load_private_key(key_pair)
    host, port, user = login.host, login.port, login.user
    with _session(host, port, known_hosts, timeout) as session:
        if _key_accepted(session, host, user, pkey, timeout):
            recorded = _record_host_key(known_hosts, host, port, session.host_key)
            return BootstrapResult(host, port, user, False, False, recorded)
        if login.password is None:
            raise FateopsError(
                f"the workspace ssh key is not accepted by {user}@{_where(host, port)} and no password was given; "
                "pass -pw for this host"
            )
        _login_with_password(session, host, user, login.password, timeout)
        installed = _install_key(session, host, user, key_pair.public, timeout)
        recorded = _record_host_key(known_hosts, host, port, session.host_key)
    # Prove it: the next run and Ansible will have only the key.
    with _session(host, port, known_hosts, timeout) as session:
        if not _key_accepted(session, host, user, pkey, timeout):
            raise FateopsError(
                f"{user}@{host} still refuses the workspace key after it was added to ~/.ssh/authorized_keys; "
                "check sshd's AuthorizedKeysFile and that ~ and ~/.ssh are not group- or world-writable"
            )
    return BootstrapResult(host, port, user, True, installed, recorded)


def bootstrap_hosts(
    workspace: Workspace,
    logins: Sequence[SshLogin],
    timeout: float = DEFAULT_TIMEOUT,
    parallel: int = 16,
) -> list[BootstrapResult]:
    """Bootstrap several hosts at once; one FateopsError naming every host that failed, after all were tried."""
    key_pair = ensure_key_pair(workspace)
    if not logins:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(logins)))) as pool:
        futures = [pool.submit(_bootstrap, workspace, key_pair, login, timeout) for login in logins]
        results: list[BootstrapResult] = []
        errors: list[str] = []
        for future in futures:
            try:
                results.append(future.result())
            except FateopsError as exc:
                errors.append(str(exc))
    if errors:
        raise FateopsError("; ".join(errors))
    return results


def _ssh_option(name: str, value: Path) -> str:
    text = str(value)
    # ssh splits UserKnownHostsFile on spaces (it takes a list); a quoted path stays one file.
    if any(c.isspace() for c in text):
        text = f'"{text}"'
    return shlex.quote(f"{name}={text}")


def connection_vars(workspace: Workspace, host: str, port: int = SSH_PORT, user: str = DEFAULT_USER) -> dict[str, Any]:
    """The Ansible variables that make ssh use the workspace key and trust only the workspace's known_hosts."""
    paths = ssh_paths(workspace)
    common_args = [
        "-o",
        _ssh_option("UserKnownHostsFile", paths.known_hosts),
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "IdentitiesOnly=yes",
    ]
    return {
        "ansible_connection": "ssh",
        "ansible_host": host,
        "ansible_port": port,
        "ansible_user": user,
        "ansible_ssh_private_key_file": str(paths.private_key),
        "ansible_ssh_common_args": " ".join(common_args),
        # Host keys are checked whatever the environment says (ansible-runner turns checking off by default): both
        # Ansible's ssh connection and Mitogen's put their own StrictHostKeyChecking (and Mitogen a /dev/null
        # known_hosts) before the common arguments when it is off, and OpenSSH keeps the first value it is given.
        "ansible_host_key_checking": True,
        # ssh's shared connections are the workspace's own: one opened by another workspace (another key and
        # known_hosts) to the same user@host is never reused, so every workspace's host key check applies.
        "ansible_control_path_dir": str(paths.directory / "cp"),
    }
