"""Test hosts as containers on a Docker network: machines of their own, as far as a deploy can tell.

Every host is a container of one bare image: Debian bookworm (debootstrap --variant=minbase) with python3 and
openssh-server and nothing else (no python3-venv, no broker, no nginx, no lsof). Each has its own root
filesystem, process space, hostname and address on a network of its own, <prefix>-net (the engine's bridge; this
machine reaches it as its gateway, <subnet>.1), and a random root password set when it starts, through chpasswd's
stdin, so the password is in no container configuration, command line or environment. sshd lets root in by
password (PermitRootLogin yes, UsePAM no: it checks /etc/shadow itself), as on the machines operators are handed.

A host can be cut off its network (`cut_off`, `docker network disconnect`) and put back (`reconnect`, same
address), crashed (`crash`, `docker kill`) and brought back (`bring_back`: same rootfs, so same host key and
whatever a deploy left). The image is built once per key (Debian suite, packages, sshd settings) from a rootfs
kept as a tar under the cache; everything is labelled with the harness's prefix, so `down()` also removes what
a crashed earlier run left. Standard library only.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("python3", "openssh-server")
SSHD_SETTINGS = "PermitRootLogin yes\nPasswordAuthentication yes\nUsePAM no\n"
# Host keys are made at the container's first start and kept in its rootfs (a crash and a start keep them).
START = "mkdir -p /run/sshd && ssh-keygen -A >/dev/null && exec /usr/sbin/sshd -D -e"
LABEL = "fateops.test-hosts"
PREFIX_PATTERN = re.compile(r"^[a-z][a-z0-9]{0,7}$")
READY_TIMEOUT = 30.0


class ContainerHarnessError(RuntimeError):
    """A harness step failed; the message names the step and what docker said."""


@dataclass(frozen=True)
class ContainerHarnessConfig:
    count: int = 2
    prefix: str = "foc"
    subnet: str = "10.77.5.0/24"
    # Where the bare image's rootfs tar is kept (the images cache of make images).
    cache_dir: Path = Path("/var/lib/fateops/images")
    # The engine (DOCKER_HOST); empty: the docker CLI's default.
    docker_host: str = ""

    def validate(self) -> None:
        if not PREFIX_PATTERN.match(self.prefix):
            raise ContainerHarnessError(f"prefix {self.prefix!r} is not 1-8 lowercase letters and digits")
        network = ipaddress.ip_network(self.subnet)
        if not 1 <= self.count <= network.num_addresses - 3:
            raise ContainerHarnessError(f"{self.count} hosts do not fit in {self.subnet}")

    @property
    def network(self) -> str:
        return f"{self.prefix}-net"

    @property
    def gateway(self) -> str:
        return str(ipaddress.ip_network(self.subnet).network_address + 1)

    def host_name(self, index: int) -> str:
        return f"{self.prefix}-h{index}"

    def host_ip(self, index: int) -> str:
        return str(ipaddress.ip_network(self.subnet).network_address + 1 + index)


@dataclass(frozen=True)
class ContainerHost:
    """One host: its container, address and root login. The password is kept out of repr (and so out of logs)."""

    __test__ = False  # not a pytest test class

    name: str
    ip: str
    password: str = field(repr=False)
    user: str = "root"
    ssh_port: int = 22


def image_key() -> str:
    text = "\n".join([SUITE, MIRROR, *PACKAGES, SSHD_SETTINGS, START])
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def image_tag() -> str:
    return f"fateops-test/bare-host:{SUITE}-{image_key()}"


@dataclass
class ContainerHarness:
    config: ContainerHarnessConfig
    hosts: list[ContainerHost]

    def host(self, name: str) -> ContainerHost:
        for host in self.hosts:
            if host.name == name:
                return host
        raise ContainerHarnessError(f"no host {name!r}; hosts: {', '.join(h.name for h in self.hosts)}")

    def exec(self, host: ContainerHost, argv: Sequence[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run a command as root inside host (not over ssh: what the host itself sees)."""
        return _docker(self.config, ["exec", host.name, *argv], check=False, timeout=timeout)

    def add_user(self, host: ContainerHost, name: str) -> ContainerHost:
        """A login user of host with a home directory and a random password (set through chpasswd's stdin)."""
        _docker(self.config, ["exec", host.name, "useradd", "--create-home", "--shell", "/bin/sh", name])
        user = ContainerHost(host.name, host.ip, "p" + secrets.token_urlsafe(18), user=name)
        _docker(self.config, ["exec", "--interactive", host.name, "chpasswd"], input_text=f"{name}:{user.password}\n")
        return user

    def copy_to(self, host: ContainerHost, local: Path, remote: Path, owner: str = "root") -> None:
        """A file of this machine onto host (its parent directory must exist there), owned by owner."""
        _docker(self.config, ["cp", str(local), f"{host.name}:{remote}"])
        if owner != "root":
            _docker(self.config, ["exec", host.name, "chown", f"{owner}:", str(remote)])

    def read_text(self, host: ContainerHost, path: str | Path) -> str:
        """A file of host, read as root there."""
        done = self.exec(host, ["cat", str(path)])
        if done.returncode != 0:
            raise ContainerHarnessError(f"{host.name}: cannot read {path}: {done.stderr.strip()}")
        return done.stdout

    def pid_of(self, host: ContainerHost, marker: str) -> int | None:
        """The oldest process of host whose command line holds marker (its pid in the host's own process space)."""
        out = self.exec(host, ["pgrep", "-f", "-o", marker]).stdout.split()
        return int(out[0]) if out else None

    @contextlib.contextmanager
    def changed_host_key(self, host: ContainerHost) -> Iterator[None]:
        """The host as ssh sees a reinstalled one: new host keys and every ssh session ended (shared connections
        included); afterwards the original keys are back, again with fresh sessions only."""
        self._sshd(host, "mkdir -p /root/.fateops-keys && cp -p /etc/ssh/ssh_host_* /root/.fateops-keys/ && "
                   "rm /etc/ssh/ssh_host_* && ssh-keygen -A >/dev/null")  # fmt: skip
        try:
            yield
        finally:
            self._sshd(host, "cp -p /root/.fateops-keys/* /etc/ssh/ && rm -r /root/.fateops-keys")

    def _sshd(self, host: ContainerHost, change: str) -> None:
        """change, then every session's sshd ended and the listener (pid 1) re-executed to read its keys again."""
        sessions = 'for pid in $(pgrep -f \'^sshd: \'); do [ "$pid" = 1 ] || kill -KILL "$pid"; done'
        done = self.exec(host, ["sh", "-c", f"{change} && {{ {sessions}; }}; kill -HUP 1"])
        if done.returncode != 0:
            raise ContainerHarnessError(f"{host.name}: sshd keys: {done.stderr.strip()}")
        time.sleep(0.5)
        _wait_ready(host)

    def cut_off(self, host: ContainerHost) -> None:
        _docker(self.config, ["network", "disconnect", self.config.network, host.name])

    def reconnect(self, host: ContainerHost) -> None:
        _docker(self.config, ["network", "connect", "--ip", host.ip, self.config.network, host.name])
        _wait_ready(host)

    def crash(self, host: ContainerHost) -> None:
        _docker(self.config, ["kill", host.name])

    def bring_back(self, host: ContainerHost) -> None:
        _docker(self.config, ["start", host.name])
        _wait_ready(host)

    def reinstall(self, host: ContainerHost) -> None:
        """A new container at the host's address with the same root password: a fresh rootfs, a new host key."""
        _docker(self.config, ["rm", "--force", host.name])
        _start(self.config, image_tag(), host)
        _wait_ready(host)


def _docker(
    config: ContainerHarnessConfig,
    args: Sequence[str],
    check: bool = True,
    timeout: float = 120,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **({"DOCKER_HOST": config.docker_host} if config.docker_host else {})}
    run = subprocess.run(
        ["docker", *args], input=input_text, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    if check and run.returncode != 0:
        raise ContainerHarnessError(f"docker {args[0]} {' '.join(args[1:3])}: {run.stderr.strip()[-500:]}")
    return run


def _build_rootfs(config: ContainerHarnessConfig, tar: Path) -> None:
    """debootstrap the bare host's rootfs, with sshd's settings for root by password, into tar."""
    if shutil.which("debootstrap") is None:
        raise ContainerHarnessError("debootstrap is not installed; run make setup (Debian's debootstrap)")
    partial = tar.with_suffix(".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        argv = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(partial), MIRROR]
        run = subprocess.run(argv, capture_output=True, text=True, timeout=1200, check=False)
        if run.returncode != 0:
            raise ContainerHarnessError(f"debootstrap of the bare host failed: {run.stdout[-800:]}{run.stderr[-400:]}")
        (partial / "etc/ssh/sshd_config.d/fateops-test.conf").write_text(SSHD_SETTINGS)
        # No host keys of the build: each container makes its own at its first start.
        for key in (partial / "etc/ssh").glob("ssh_host_*"):
            key.unlink()
        for leftover in [
            *(partial / "var/cache/apt/archives").glob("*.deb"),
            *(partial / "var/lib/apt/lists").glob("*_*"),
        ]:
            leftover.unlink()
        subprocess.run(
            ["tar", "--numeric-owner", "-C", str(partial), "-cf", f"{tar}.partial", "."], check=True, timeout=600
        )
        os.replace(f"{tar}.partial", tar)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def ensure_image(config: ContainerHarnessConfig) -> str:
    """The bare host image's tag, imported from the cached rootfs (debootstrapped first when there is none)."""
    tag = image_tag()
    if _docker(config, ["image", "inspect", tag], check=False).returncode == 0:
        return tag
    tar = config.cache_dir / "rootfs" / f"bare-host-{SUITE}-{image_key()}.tar"
    if not tar.exists():
        tar.parent.mkdir(parents=True, exist_ok=True)
        _build_rootfs(config, tar)
    changes = [
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV LANG=C.UTF-8",
        f"CMD {json.dumps(['/bin/sh', '-c', START])}",
    ]
    _docker(
        config, ["import", *[arg for change in changes for arg in ("--change", change)], str(tar), tag], timeout=600
    )
    return tag


def _wait_ready(host: ContainerHost, timeout: float = READY_TIMEOUT) -> None:
    """sshd answers with its banner on the host's address."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host.ip, host.ssh_port), timeout=2) as connection:
                if connection.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise ContainerHarnessError(f"sshd of {host.name} ({host.ip}) did not answer within {timeout:.0f} s")
        time.sleep(0.3)


def _start(config: ContainerHarnessConfig, tag: str, host: ContainerHost) -> None:
    """Run host's container and set its root password (through chpasswd's stdin)."""
    _docker(
        config,
        ["run", "--detach", "--name", host.name, "--hostname", host.name, "--label", f"{LABEL}={config.prefix}",
         "--network", config.network, "--ip", host.ip, tag],
    )  # fmt: skip
    _docker(config, ["exec", "--interactive", host.name, "chpasswd"], input_text=f"root:{host.password}\n")


def down(config: ContainerHarnessConfig) -> None:
    """Remove the prefix's containers and network (also what a crashed run left)."""
    label = f"label={LABEL}={config.prefix}"
    containers = _docker(config, ["ps", "--all", "--quiet", "--filter", label], check=False).stdout.split()
    if containers:
        _docker(config, ["rm", "--force", "--volumes", *containers])
    networks = _docker(config, ["network", "ls", "--quiet", "--filter", label], check=False).stdout.split()
    if networks:
        _docker(config, ["network", "rm", *networks])


def up(config: ContainerHarnessConfig) -> ContainerHarness:
    """count fresh hosts (what an earlier run of the prefix left is removed first)."""
    config.validate()
    tag = ensure_image(config)
    down(config)
    label = f"{LABEL}={config.prefix}"
    _docker(
        config,
        # --internal: no route beyond the network (no package index, no internet); this machine, the
        # network's gateway, still reaches every host.
        [
            "network",
            "create",
            "--driver",
            "bridge",
            "--internal",
            "--subnet",
            config.subnet,
            "--label",
            label,
            config.network,
        ],
    )
    hosts = []
    for index in range(1, config.count + 1):
        # A letter first: a password that starts with "-" reads as a flag on script.py's command line.
        host = ContainerHost(config.host_name(index), config.host_ip(index), "p" + secrets.token_urlsafe(18))
        _start(config, tag, host)
        hosts.append(host)
    for host in hosts:
        _wait_ready(host)
    return ContainerHarness(config, hosts)
