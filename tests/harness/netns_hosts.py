"""Test hosts as Linux network namespaces on a private bridge, each with its own sshd, reached over real ssh.

    root namespace: bridge <prefix>-br, <subnet>.1
        ├── veth <prefix>-v1 ── namespace <prefix>-h1: eth0 <subnet>.2, lo, sshd :22, hostname <prefix>-h1
        ├── veth <prefix>-v2 ── namespace <prefix>-h2: eth0 <subnet>.3, ...
        └── ...

Hosts share this machine's filesystem, so each gets a directory of its own, `<state>/hosts/<name>/`:
`scratch/` for whatever a test deploys there, `home/` (bind-mounted over the test user's home inside that host
only, so every host has its own ~/.ssh/authorized_keys as separate machines would), `sshd/` (config, host key,
pid file, log, root's authorized keys). sshd runs in a UTS namespace of its own too, so `hostname` on a host
answers its name, and /etc/hosts inside a host (a bind mount) names every host: RabbitMQ and epmd see distinct
hosts. Nothing of the machine's own ssh set-up is used or changed: not /etc/ssh/sshd_config, not root's password.

Logins:
- a dedicated user (default `fateops-test`) with a random password the harness returns: password login works;
- root with a key only: `authorize_root_key()` writes a harness-owned file that sshd reads for root only
  (`Match User root` / `AuthorizedKeysFile`), because root's password is this machine's and is not ours to set.

sshd runs with `UsePAM no`: sshd checks the password against /etc/shadow itself, so logins do not depend on
the machine's PAM stack (pam_loginuid fails in many containers). Everything is named after a prefix, so `down()`
also removes what a crashed earlier run left. Standard library only: CI and molecule call it with any python3.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")
SSH_KEYGEN = Path("/usr/bin/ssh-keygen")
SFTP_SERVER = Path("/usr/lib/openssh/sftp-server")
# sshd's privilege separation directory; Debian's service unit creates it, so without systemd we may have to.
PRIVSEP_DIR = Path("/run/sshd")
STATE_ROOT = Path("/run/fateops-hosts")
STATE_FILE = "harness.json"
# GECOS of the users the harness creates: only users carrying it (for this prefix) are ever deleted.
USER_MARKER = "fateops test harness"
PREFIX_PATTERN = re.compile(r"^[a-z][a-z0-9]{0,7}$")
READY_TIMEOUT = 10.0


class HarnessError(RuntimeError):
    """The harness could not do what was asked; the message says why and what to do."""


@dataclass(frozen=True)
class HarnessConfig:
    count: int = 2
    # Names every namespace, link and user marker; at most 8 characters so that link names fit in 15.
    prefix: str = "fo"
    subnet: str = "10.77.0.0/24"
    ssh_port: int = 22
    user: str = "fateops-test"
    # Default /run/fateops-hosts/<prefix>: root-owned all the way up, which sshd's StrictModes requires for
    # the root authorized keys file kept there, and gone after a reboot like the namespaces themselves.
    state_dir: Path | None = None

    @property
    def state(self) -> Path:
        return self.state_dir or STATE_ROOT / self.prefix

    @property
    def bridge(self) -> str:
        return f"{self.prefix}-br"

    def host_name(self, index: int) -> str:
        return f"{self.prefix}-h{index}"

    def veth_name(self, index: int) -> str:
        return f"{self.prefix}-v{index}"

    def validate(self) -> None:
        if not PREFIX_PATTERN.match(self.prefix):
            raise HarnessError(
                f"prefix {self.prefix!r} must be 1-8 lowercase letters or digits, starting with a letter"
            )
        network = self.network
        if network.version != 4 or network.prefixlen > 29:
            raise HarnessError(f"subnet {self.subnet} must be an IPv4 network of /29 or larger")
        if self.count < 1 or self.count > network.num_addresses - 3:
            raise HarnessError(f"{self.count} hosts do not fit in {self.subnet} (the bridge takes the first address)")
        if not re.match(r"^[a-z_][a-z0-9_-]{0,30}$", self.user) or self.user == "root":
            raise HarnessError(f"user {self.user!r} must be a new, non-root user name")

    @property
    def network(self) -> ipaddress.IPv4Network:
        try:
            network = ipaddress.ip_network(self.subnet, strict=True)
        except ValueError as exc:
            raise HarnessError(f"subnet {self.subnet!r} is not a network address with a prefix ({exc})") from None
        if not isinstance(network, ipaddress.IPv4Network):
            raise HarnessError(f"subnet {self.subnet} must be IPv4")
        return network

    @property
    def bridge_ip(self) -> str:
        return str(self.network.network_address + 1)

    def host_ip(self, index: int) -> str:
        return str(self.network.network_address + 1 + index)


@dataclass(frozen=True)
class TestHost:
    """One host: where to reach it and how to log in. The password is kept out of repr (and so out of logs)."""

    __test__ = False  # not a pytest test class, whatever its name

    name: str
    ip: str
    ssh_port: int
    user: str
    password: str = field(repr=False)
    # <state>/hosts/<name>: everything of this host on the shared filesystem.
    base_dir: Path
    scratch_dir: Path
    # The test user's home as this host sees it (bind-mounted over /home/<user> inside the host).
    home_dir: Path
    root_authorized_keys: Path
    host_key: Path
    sshd_config: Path
    pid_file: Path
    log_file: Path

    def as_dict(self) -> dict[str, object]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> TestHost:
        paths = {f.name for f in fields(cls) if f.type in ("Path", Path)}
        return cls(**{k: Path(str(v)) if k in paths else v for k, v in data.items()})  # type: ignore[arg-type]


@dataclass
class Harness:
    config: HarnessConfig
    hosts: list[TestHost]

    @property
    def bridge_ip(self) -> str:
        return self.config.bridge_ip

    def host(self, name: str) -> TestHost:
        for host in self.hosts:
            if host.name == name:
                return host
        raise HarnessError(f"no host {name!r}; hosts: {', '.join(h.name for h in self.hosts)}")

    def sshd_pid(self, host: TestHost) -> int | None:
        return _sshd_pid(host)

    def exec(self, host: TestHost, argv: Sequence[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run a command inside host as root, seeing what its ssh sessions see (network, hostname, mounts)."""
        pid = _sshd_pid(host)
        if pid is None:
            raise HarnessError(f"sshd of {host.name} is not running; run `up` again")
        return subprocess.run(
            ["nsenter", f"--target={pid}", "--net", "--uts", "--mount", "--", *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def authorize_root_key(self, host: TestHost, public_key_line: str) -> None:
        """Let root log in to host with this key (root has no password login here)."""
        existing = host.root_authorized_keys.read_text() if host.root_authorized_keys.exists() else ""
        if public_key_line.strip() not in existing.splitlines():
            host.root_authorized_keys.write_text(existing + public_key_line.strip() + "\n")
        os.chmod(host.root_authorized_keys, 0o600)

    def restart_sshd(self, host: TestHost, new_host_key: bool = False) -> None:
        """Restart host's sshd, with a freshly generated host key if asked (a reinstalled host, as ssh sees it)."""
        _stop_pid_file(host.pid_file, host.sshd_config)
        if new_host_key:
            _make_host_key(host)
        _start_sshd(self.config, host)
        _wait_ready(host)

    def stop_sshd(self, host: TestHost) -> None:
        _stop_pid_file(host.pid_file, host.sshd_config)

    @contextlib.contextmanager
    def changed_host_key(self, host: TestHost) -> Iterator[None]:
        """The host as ssh sees a reinstalled one: a new host key, and every ssh session of the old sshd ended
        (shared connections included); afterwards the original key is back, again with fresh sessions only."""
        key_files = (host.host_key, host.host_key.with_name(host.host_key.name + ".pub"))
        original = {path: path.read_bytes() for path in key_files}
        self._restart_without_sessions(host, new_host_key=True)
        try:
            yield
        finally:
            for path, content in original.items():
                path.write_bytes(content)
                os.chmod(path, 0o600 if path == host.host_key else 0o644)
            self._restart_without_sessions(host)

    def _restart_without_sessions(self, host: TestHost, new_host_key: bool = False) -> None:
        inode = _netns_inode(host.name)
        sessions = [pid for pid in _pids_in_netns({inode} if inode else set()) if _is_sshd(pid)]
        _terminate(sessions)
        self.restart_sshd(host, new_host_key)


# running commands ------------------------------------------------------------------------------------------


def _run(argv: Sequence[str], input_text: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), input=input_text, capture_output=True, text=True, timeout=60, check=False)
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        raise HarnessError(f"`{' '.join(argv)}` failed: {detail[0]}")
    return proc


def _ip_json(*args: str) -> list[dict[str, object]]:
    out = _run(["ip", "-j", *args]).stdout.strip()
    return json.loads(out) if out else []


def _require_root() -> None:
    if os.geteuid() != 0:
        raise HarnessError(
            "the netns test hosts need root (network namespaces, a bridge, sshd); run as root, as CI does"
        )
    missing = [str(p) for p in (SSHD, SSH_KEYGEN) if not p.exists()]
    if missing or shutil.which("ip") is None or shutil.which("nsenter") is None:
        raise HarnessError(
            f"missing {', '.join(missing) or 'ip/nsenter'}: install Debian's openssh-server, iproute2 and "
            "util-linux (make system)"
        )


# discovery, for down() and crash clean-up ---------------------------------------------------------------------


def _netns_names(prefix: str) -> list[str]:
    pattern = re.compile(rf"^{re.escape(prefix)}-h\d+$")
    out = _run(["ip", "netns", "list"], check=False).stdout
    return sorted(name for line in out.splitlines() if pattern.match(name := line.split(" ", 1)[0]))


def _netns_inode(name: str) -> int | None:
    try:
        return os.stat(f"/run/netns/{name}").st_ino
    except OSError:
        return None


def _pids_in_netns(inodes: set[int]) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(entry / "ns" / "net").st_ino in inodes:
                    found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # A zombie has exited; only its parent's wait() is missing.
    return status.rsplit(")", 1)[-1].split()[0] != "Z"


def _terminate(pids: Sequence[int], grace: float = 5.0) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    for pid in pids:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _read_pid(pid_file: Path, config_file: Path) -> int | None:
    """The pid in pid_file if that process is still the sshd started with config_file (pids get reused)."""
    try:
        pid = int(pid_file.read_text().strip())
        # sshd rewrites its process title ("sshd: /usr/sbin/sshd -f CONFIG ... [listener]"), keeping the path.
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if str(config_file).encode() in cmdline and _alive(pid) else None


def _sshd_pid(host: TestHost) -> int | None:
    return _read_pid(host.pid_file, host.sshd_config)


def _stop_pid_file(pid_file: Path, config_file: Path) -> None:
    pid = _read_pid(pid_file, config_file)
    if pid is not None:
        _terminate([pid])
    with contextlib.suppress(FileNotFoundError):
        pid_file.unlink()


def _marked_users(prefix: str) -> list[pwd.struct_passwd]:
    return [entry for entry in pwd.getpwall() if entry.pw_gecos == f"{USER_MARKER} {prefix}"]


def _links(prefix: str) -> list[str]:
    pattern = re.compile(rf"^{re.escape(prefix)}-(br|v\d+)$")
    return [str(link["ifname"]) for link in _ip_json("link", "show") if pattern.match(str(link.get("ifname", "")))]


def _is_sshd(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return os.readlink(f"/proc/{pid}/exe") == str(SSHD)
    return False


def _other_sshd_running() -> bool:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(entry / "exe") == str(SSHD):
                    return True
    return False


# down ---------------------------------------------------------------------------------------------------------


def down(config: HarnessConfig) -> None:
    """Remove every namespace, link, process, user and file of this prefix; safe to run any number of times."""
    _require_root()
    config.validate()
    state = config.state
    names = _netns_names(config.prefix)
    inodes = {ino for name in names if (ino := _netns_inode(name)) is not None}
    # Namespaces whose name was already removed stay alive through their processes; the state file knows them.
    with contextlib.suppress(OSError, ValueError):
        inodes |= set(json.loads((state / STATE_FILE).read_text()).get("netns_inodes", []))
    for pid_file in state.glob("hosts/*/sshd/sshd.pid"):
        _stop_pid_file(pid_file, pid_file.parent / "sshd_config")
    if inodes:
        _terminate(_pids_in_netns(inodes))
    for name in names:
        _run(["ip", "netns", "delete", name], check=False)
    for link in _links(config.prefix):
        _run(["ip", "link", "delete", link], check=False)
    for user in _marked_users(config.prefix):
        _run(["userdel", user.pw_name], check=False)
        home = Path(user.pw_dir)
        # Only the empty mount point the harness made; the per-host homes live in the state dir.
        if home.parent == Path("/home") and home.exists() and not home.is_symlink():
            shutil.rmtree(home, ignore_errors=True)
    if (state / "created-privsep-dir").exists() and PRIVSEP_DIR.is_dir() and not _other_sshd_running():
        with contextlib.suppress(OSError):
            PRIVSEP_DIR.rmdir()
    shutil.rmtree(state, ignore_errors=True)
    if state.parent == STATE_ROOT:
        with contextlib.suppress(OSError):
            STATE_ROOT.rmdir()


# up -----------------------------------------------------------------------------------------------------------


def _check_subnet_free(config: HarnessConfig) -> None:
    network = config.network
    for route in _ip_json("-4", "route", "show", "table", "all"):
        dst = str(route.get("dst", ""))
        if dst in ("default", ""):
            continue
        with contextlib.suppress(ValueError):
            if ipaddress.ip_network(dst, strict=False).overlaps(network):
                raise HarnessError(
                    f"subnet {network} overlaps {dst} (dev {route.get('dev', '?')}) already on this machine; "
                    "pick another with --subnet / FATEOPS_TEST_SUBNET"
                )


def _check_state_dir(path: Path) -> None:
    """sshd's StrictModes refuses root's authorized keys under a group- or world-writable directory (e.g. /tmp)."""
    for parent in [path, *path.parents]:
        if parent.exists():
            info = parent.stat()
            if info.st_uid != 0 or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                raise HarnessError(
                    f"state dir {path} is under {parent}, which is not root-owned or is group/world-writable; "
                    "sshd refuses keys kept there: pick a state dir under e.g. /run or /var/lib"
                )


def _ensure_user(config: HarnessConfig, password: str) -> pwd.struct_passwd:
    marker = f"{USER_MARKER} {config.prefix}"
    try:
        existing = pwd.getpwnam(config.user)
    except KeyError:
        existing = None
    if existing is not None and existing.pw_gecos != marker:
        raise HarnessError(
            f"user {config.user} exists and is not this harness's ({config.prefix}); choose another --user"
        )
    home = Path("/home") / config.user
    if existing is None:
        _run(["useradd", "--comment", marker, "--home-dir", str(home), "--no-create-home", "--shell", "/bin/bash",
              "--user-group", config.user])  # fmt: skip
    _run(["chpasswd"], input_text=f"{config.user}:{password}\n")
    entry = pwd.getpwnam(config.user)
    # Only a mount point in the root namespace: each host mounts its own home over it.
    home.mkdir(mode=0o700, exist_ok=True)
    os.chown(home, entry.pw_uid, entry.pw_gid)
    return entry


def _make_host_key(host: TestHost) -> None:
    for path in (host.host_key, host.host_key.with_name(host.host_key.name + ".pub")):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    _run([str(SSH_KEYGEN), "-q", "-t", "ed25519", "-N", "", "-C", host.name, "-f", str(host.host_key)])


def _sshd_config(config: HarnessConfig, host: TestHost) -> str:
    sftp = str(SFTP_SERVER) if SFTP_SERVER.exists() else "internal-sftp"
    return f"""\
# sshd of test host {host.name}, written by the fateops test harness; the machine's sshd_config is not read.
Port {config.ssh_port}
ListenAddress 0.0.0.0
HostKey "{host.host_key}"
PidFile "{host.pid_file}"
# sshd checks passwords against /etc/shadow itself: no dependency on the machine's PAM stack.
UsePAM no
PasswordAuthentication yes
PermitEmptyPasswords no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
# Root has no password we may set: key only, from the harness-owned file below.
PermitRootLogin prohibit-password
AllowUsers {config.user} root
AuthorizedKeysFile .ssh/authorized_keys
StrictModes yes
UseDNS no
PrintMotd no
PrintLastLog no
# Ansible opens many connections at once.
MaxStartups 100:30:200
MaxSessions 64
LogLevel VERBOSE
Subsystem sftp {sftp}
Match User root
    AuthorizedKeysFile "{host.root_authorized_keys}"
"""


def _etc_hosts(config: HarnessConfig) -> str:
    lines = [
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        f"{config.bridge_ip}\t{config.bridge}",
    ]
    lines += [f"{config.host_ip(i)}\t{config.host_name(i)}" for i in range(1, config.count + 1)]
    return "\n".join(lines) + "\n"


def _host_record(config: HarnessConfig, index: int, password: str) -> TestHost:
    name = config.host_name(index)
    base = config.state / "hosts" / name
    sshd_dir = base / "sshd"
    return TestHost(
        name=name,
        ip=config.host_ip(index),
        ssh_port=config.ssh_port,
        user=config.user,
        password=password,
        base_dir=base,
        scratch_dir=base / "scratch",
        home_dir=base / "home",
        root_authorized_keys=sshd_dir / "root_authorized_keys",
        host_key=sshd_dir / "ssh_host_ed25519_key",
        sshd_config=sshd_dir / "sshd_config",
        pid_file=sshd_dir / "sshd.pid",
        log_file=sshd_dir / "sshd.log",
    )


def _prepare_host_files(config: HarnessConfig, host: TestHost, user: pwd.struct_passwd) -> None:
    sshd_dir = host.sshd_config.parent
    for path, mode in ((host.base_dir, 0o755), (sshd_dir, 0o700)):
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, mode)
    for path, mode in ((host.home_dir, 0o700), (host.scratch_dir, 0o755)):
        path.mkdir(exist_ok=True)
        os.chmod(path, mode)
        os.chown(path, user.pw_uid, user.pw_gid)
    _make_host_key(host)
    host.root_authorized_keys.touch(mode=0o600)
    host.sshd_config.write_text(_sshd_config(config, host))
    (sshd_dir / "hosts").write_text(_etc_hosts(config))


def _make_network(config: HarnessConfig) -> None:
    _run(["ip", "link", "add", config.bridge, "type", "bridge", "forward_delay", "0"])
    _disable_ipv6(config.bridge)
    _run(["ip", "address", "add", f"{config.bridge_ip}/{config.network.prefixlen}", "dev", config.bridge])
    _run(["ip", "link", "set", config.bridge, "up"])
    for index in range(1, config.count + 1):
        name, veth = config.host_name(index), config.veth_name(index)
        _run(["ip", "netns", "add", name])
        _run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", name])
        _disable_ipv6(veth)
        _run(["ip", "link", "set", veth, "master", config.bridge, "up"])
        inside = ["ip", "-n", name]
        _run([*inside, "link", "set", "lo", "up"])
        _run([*inside, "address", "add", f"{config.host_ip(index)}/{config.network.prefixlen}", "dev", "eth0"])
        _run([*inside, "link", "set", "eth0", "addrgenmode", "none"])
        _run([*inside, "link", "set", "eth0", "up"])


def _disable_ipv6(link: str) -> None:
    # IPv4 only: no router solicitations or duplicate-address probes on the test bridge.
    with contextlib.suppress(OSError):
        Path(f"/proc/sys/net/ipv6/conf/{link}/disable_ipv6").write_text("1")


# Runs as root inside the host's network namespace (and the private mount namespace `ip netns exec` makes):
# a UTS namespace for the host name, the host's own home and /etc/hosts, then sshd, which daemonizes.
_START_SSHD = """\
set -e
echo "$1" > /proc/sys/kernel/hostname
mount --bind "$2" "$3"
mount --bind "$4" /etc/hosts
exec "$5" -f "$6" -E "$7"
"""


def _start_sshd(config: HarnessConfig, host: TestHost) -> None:
    home = Path("/home") / config.user
    argv = ["ip", "netns", "exec", host.name, "unshare", "--uts", "--", "/bin/sh", "-c", _START_SSHD, "sh"]
    argv += [host.name, str(host.home_dir), str(home), str(host.sshd_config.parent / "hosts"), str(SSHD)]
    argv += [str(host.sshd_config), str(host.log_file)]
    _run(argv)


def _banner(ip: str, port: int, timeout: float) -> bytes:
    with socket.create_connection((ip, port), timeout=timeout) as sock:
        return sock.recv(64)


def _wait_ready(host: TestHost) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        with contextlib.suppress(OSError):
            if _sshd_pid(host) is not None and _banner(host.ip, host.ssh_port, 1.0).startswith(b"SSH-"):
                return
        if time.monotonic() > deadline:
            log = host.log_file.read_text().strip().splitlines()[-1:] if host.log_file.exists() else []
            raise HarnessError(
                f"sshd of {host.name} did not answer on {host.ip}:{host.ssh_port} within {READY_TIMEOUT:.0f}s"
                + (f": {log[0]}" if log else "")
            )
        time.sleep(0.05)


def _check_between_hosts(harness: Harness) -> None:
    """Hosts must reach each other across the bridge, not only the root namespace (FATE parties talk directly)."""
    first, others = harness.hosts[0], harness.hosts[1:]
    for other in others:
        probe = f"exec 3<>/dev/tcp/{other.ip}/{other.ssh_port}"
        if harness.exec(first, ["timeout", "3", "bash", "-c", probe]).returncode != 0:
            raise HarnessError(
                f"{first.name} cannot reach {other.name} ({other.ip}:{other.ssh_port}) across {harness.config.bridge}; "
                "bridged traffic is probably filtered (br_netfilter with iptables FORWARD rules)"
            )


def _save(harness: Harness) -> None:
    state = {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(harness.config).items()},
        "netns_inodes": [_netns_inode(h.name) for h in harness.hosts],
        "hosts": [h.as_dict() for h in harness.hosts],
    }
    path = harness.config.state / STATE_FILE
    # It holds the test user's password: root only.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(state, handle, indent=2)


def load(config: HarnessConfig) -> Harness | None:
    """The harness `up` made for this prefix, or None."""
    try:
        data = json.loads((config.state / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    saved = data["config"]
    saved["state_dir"] = Path(saved["state_dir"]) if saved.get("state_dir") else None
    return Harness(HarnessConfig(**saved), [TestHost.from_dict(h) for h in data["hosts"]])


def up(config: HarnessConfig) -> Harness:
    """Create config.count hosts from scratch (after removing leftovers of this prefix) and wait until sshd answers."""
    _require_root()
    config.validate()
    down(config)
    _check_subnet_free(config)
    _check_state_dir(config.state)
    try:
        config.state.mkdir(parents=True, exist_ok=True)
        os.chmod(config.state, 0o755)
        if not PRIVSEP_DIR.exists():
            PRIVSEP_DIR.mkdir(mode=0o755)
            (config.state / "created-privsep-dir").touch()
        password = secrets.token_urlsafe(18)
        user = _ensure_user(config, password)
        hosts = [_host_record(config, index, password) for index in range(1, config.count + 1)]
        for host in hosts:
            _prepare_host_files(config, host, user)
        _make_network(config)
        harness = Harness(config, hosts)
        _save(harness)
        for host in hosts:
            _start_sshd(config, host)
        for host in hosts:
            _wait_ready(host)
        _check_between_hosts(harness)
    except BaseException:
        down(config)
        raise
    return harness


@dataclass(frozen=True)
class HostStatus:
    name: str
    ip: str
    netns: bool
    sshd_pid: int | None
    ssh_answers: bool


def status(config: HarnessConfig) -> list[HostStatus]:
    harness = load(config)
    if harness is None:
        return []
    namespaces = set(_netns_names(config.prefix))
    found = []
    for host in harness.hosts:
        try:
            answers = _banner(host.ip, host.ssh_port, 1.0).startswith(b"SSH-")
        except OSError:
            answers = False
        found.append(HostStatus(host.name, host.ip, host.name in namespaces, _sshd_pid(host), answers))
    return found


@contextlib.contextmanager
def hosts(config: HarnessConfig) -> Iterator[Harness]:
    """up() for the duration of a with block, down() after it, whatever happens."""
    harness = up(config)
    try:
        yield harness
    finally:
        down(config)
