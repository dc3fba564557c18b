"""Bring the netns test hosts up, down, or show them: for .ci/run, molecule/multiparty and people.

    python3 tests/harness/hosts.py up [--count N] [--prefix P] [--subnet CIDR] [--user U] [--state-dir DIR]
    python3 tests/harness/hosts.py status [--prefix P]
    python3 tests/harness/hosts.py down [--prefix P]

`up` prints one JSON document on stdout: the bridge address and, per host, name, ip, ssh_port, user, password
(the test user's, random per `up`), scratch_dir, home_dir, root_authorized_keys. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: make `tests.harness` importable from the repository root.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.harness.netns_hosts import HarnessConfig, HarnessError, down, load, status, up


def _config(args: argparse.Namespace) -> HarnessConfig:
    state_dir = Path(args.state_dir).resolve() if args.state_dir else None
    if args.command == "up":
        return HarnessConfig(args.count, args.prefix, args.subnet, args.ssh_port, args.user, state_dir)
    saved = load(HarnessConfig(prefix=args.prefix, state_dir=state_dir))
    return saved.config if saved else HarnessConfig(prefix=args.prefix, state_dir=state_dir)


def build_parser() -> argparse.ArgumentParser:
    defaults = HarnessConfig()
    parser = argparse.ArgumentParser(prog="hosts.py", description="Test hosts as network namespaces with sshd.")
    parser.add_argument("command", choices=("up", "down", "status", "authorize"))
    parser.add_argument(
        "--prefix", default=defaults.prefix, help="names of namespaces, links, users (default %(default)s)"
    )
    parser.add_argument("--count", type=int, default=defaults.count, help="hosts to make (default %(default)s)")
    parser.add_argument("--subnet", default=defaults.subnet, help="IPv4 subnet of the bridge (default %(default)s)")
    parser.add_argument("--ssh-port", type=int, default=defaults.ssh_port, help="sshd port in each host")
    parser.add_argument("--user", default=defaults.user, help="test user with password login (default %(default)s)")
    parser.add_argument("--state-dir", help="where host dirs and keys live (default /run/fateops-hosts/PREFIX)")
    parser.add_argument("--key", help="authorize: public key file root on every host then accepts")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.monotonic()
    try:
        config = _config(args)
        if args.command == "up":
            harness = up(config)
            print(json.dumps({"bridge_ip": harness.bridge_ip, "hosts": [h.as_dict() for h in harness.hosts]}, indent=2))
            sys.stderr.write(f"hosts.py: {len(harness.hosts)} host(s) up in {time.monotonic() - started:.1f}s\n")
        elif args.command == "authorize":
            harness = load(config)
            if harness is None or not args.key:
                raise HarnessError(f"authorize needs running {config.prefix} hosts and --key PUBLIC_KEY_FILE")
            line = Path(args.key).read_text().strip()
            for host in harness.hosts:
                harness.authorize_root_key(host, line)
        elif args.command == "down":
            down(config)
            sys.stderr.write(f"hosts.py: {config.prefix} hosts down in {time.monotonic() - started:.1f}s\n")
        else:
            found = status(config)
            if not found:
                sys.stderr.write(f"hosts.py: no {config.prefix} hosts are up\n")
            for entry in found:
                state = "up" if entry.netns and entry.sshd_pid and entry.ssh_answers else "DOWN"
                print(f"{entry.name}\t{entry.ip}\t{state}\tnetns={entry.netns} sshd_pid={entry.sshd_pid}")
            return 0 if found and all(e.netns and e.sshd_pid and e.ssh_answers for e in found) else 1
    except HarnessError as exc:
        sys.stderr.write(f"hosts.py {args.command}: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
