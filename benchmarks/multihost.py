#!/usr/bin/env python3
"""Deploy and training timings across hosts: network namespaces with sshd (tests/harness), reached over ssh.

Usage (root): python3 benchmarks/multihost.py [--repeat N] [--sizes 1 2 4] [--skip-training]
- deploy: one party per host on 1, 2 and 4 hosts, every party federated (its own FATE-Flow, RabbitMQ broker and
  nginx; settings fate_federation_engine: rabbitmq, so that one host does the same work as each of four);
  the first deploy and N warm re-deploys (changed=0) per size; the figure is the warm median.
- training: hetero LR on the example breast data, guest 9999 and host 10000 on two hosts, against the same job
  with both parties on one standalone FATE-Flow on this host; submit to success through the facade.
Prints one JSON object. The FATE runtime is built first if missing (the hosts reach no package index).

--hosts containers: bare container hosts instead (tests/harness/container_hosts.py: their own rootfs, root by
password, no route beyond their network), fresh for each size, up to 8: the first deploy is cold (the offline
bundle shipped, packages installed, the FATE runtime built on every host; the bundle itself is built on the
controller once before, and its build time is reported apart), then the warm re-deploys. Each deploy's controller
CPU seconds (the facade and everything it ran: Ansible, ssh) are reported per host. Needs the Docker engine
(DOCKER_HOST, or make docker's).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "examples"))

import data as example_data

from fateops.ssh_keys import ensure_key_pair
from fateops.workspace import Workspace
from tests.harness.netns_hosts import HarnessConfig, down, up

# The tests' base dir, to share their FATE runtime (do not run this while the integration tests run).
BASE_DIR = REPO / ".cache" / "test-parties"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def facade(env: dict[str, str], *args: str, stdin: str | None = None) -> tuple[float, str, float]:
    """Wall seconds, stdout and controller CPU seconds (the facade and every process it waited for)."""
    started, cpu = time.monotonic(), _children_cpu()
    proc = subprocess.run(
        [sys.executable, str(REPO / "script.py"), *args], env=env, capture_output=True, text=True, check=False,
        input=stdin,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"{' '.join(args[:2])} failed: {proc.stderr.strip().splitlines()[-1]}")
    return elapsed, proc.stdout, _children_cpu() - cpu


def build_runtime() -> None:
    inventory = {
        "all": {
            "vars": {"fate_base_dir": str(BASE_DIR)},
            "children": {
                "fate_parties": {
                    "hosts": {
                        "localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
                    }
                }
            },
        }
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json") as handle:
        json.dump(inventory, handle)
        handle.flush()
        subprocess.run(
            [str(Path(sys.executable).parent / "ansible-playbook"), "-i", handle.name, "playbooks/runtime.yml"],
            cwd=REPO,
            env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")},
            check=True,
            capture_output=True,
        )


def train(env: dict[str, str], guest: str, host: str, data: dict, project: str) -> float:
    facade(env, "-f", "upload", "-gp", guest, str(data["guest"]), "-hp", host, str(data["hosts"][0]), "-proj", project)
    started = time.monotonic()
    _, out = facade(env, "-f", "submit", "-alg", "hetero_lr", "-proj", project, "-m", "1")
    job_id = json.loads(out)["jobid"]
    while True:
        _, status = facade(env, "-f", "query", "-jid", job_id)
        lines = status.split()
        if all(line == "success" for line in lines):
            return time.monotonic() - started
        if any(line in ("failed", "canceled") for line in lines):
            sys.exit(f"job {job_id} {lines}")
        time.sleep(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="warm re-deploys per size")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4], choices=range(1, 9), help="hosts")
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--hosts", choices=["netns", "containers"], default="netns")
    options = parser.parse_args()
    if options.hosts == "containers":
        print(json.dumps(containers(options), indent=2))
        return
    if max(options.sizes) > 4:
        parser.error("netns hosts: at most 4 (--hosts containers goes to 8)")
    build_runtime()
    config = HarnessConfig(count=4, prefix="fob", subnet="10.77.3.0/24", user="fateops-bench")
    harness = up(config)
    results: dict[str, object] = {"deploy": {}}
    try:
        with tempfile.TemporaryDirectory(prefix="fateops-bench-") as scratch:
            for size in options.sizes:
                home = Path(scratch) / f"ws{size}"
                key = ensure_key_pair(Workspace(home))
                for host in harness.hosts:
                    harness.authorize_root_key(host, key.public.line)
                (home / "settings.yml").write_text("fate_federation_engine: rabbitmq\n")
                env = dict(os.environ, FATEOPS_HOME=str(home), FATEOPS_BASE_DIR=str(BASE_DIR))
                ids = [str(9999 + i) for i in range(size)]
                args = ["-id", *ids, "-ip", *[h.ip for h in harness.hosts[:size]]]
                first = facade(env, "-f", "deploy", *args)[0]
                warm = [facade(env, "-f", "deploy", *args)[0] for _ in range(options.repeat)]
                facade(env, "-f", "delete", *args)
                results["deploy"][f"{size}_hosts"] = {
                    "first_s": round(first, 1),
                    "warm_s": [round(w, 1) for w in warm],
                    "warm_median_s": round(statistics.median(warm), 1),
                }
            deploy = results["deploy"]
            if {"1_hosts", "4_hosts"} <= set(deploy):
                results["warm_ratio_4_to_1"] = round(
                    deploy["4_hosts"]["warm_median_s"] / deploy["1_hosts"]["warm_median_s"], 2
                )

            if not options.skip_training:
                data = example_data.write("breast", Path(scratch) / "data")
                home = Path(scratch) / "cross"
                key = ensure_key_pair(Workspace(home))
                for host in harness.hosts[:2]:
                    harness.authorize_root_key(host, key.public.line)
                cross_env = dict(os.environ, FATEOPS_HOME=str(home), FATEOPS_BASE_DIR=str(BASE_DIR))
                cross_args = ["-id", "9999", "10000", "-ip", harness.hosts[0].ip, harness.hosts[1].ip]
                facade(cross_env, "-f", "deploy", *cross_args)
                local_home = Path(scratch) / "local"
                local_home.mkdir()
                # Ports of its own, so that the benchmark never meets a test's or the demo's FATE-Flow.
                (local_home / "settings.yml").write_text(
                    "fate_flow_http_port: 19380\nfate_flow_grpc_port: 19360\nfate_serving_port: 18059\n"
                )
                local_env = dict(os.environ, FATEOPS_HOME=str(local_home), FATEOPS_BASE_DIR=str(BASE_DIR))
                local_args = ["-id", "9999", "10000", "-ip", "127.0.0.1", "127.0.0.1"]
                facade(local_env, "-f", "deploy", *local_args)
                try:
                    single = train(local_env, "9999", "10000", data, "bench")
                    cross = train(cross_env, "9999", "10000", data, "bench")
                finally:
                    facade(cross_env, "-f", "delete", *cross_args)
                    facade(local_env, "-f", "delete", *local_args)
                results["training"] = {
                    "single_host_s": round(single, 1),
                    "two_hosts_s": round(cross, 1),
                    "ratio": round(cross / single, 2),
                }
    finally:
        down(config)
    print(json.dumps(results, indent=2))


# Actions Ansible runs on the controller: no round trip to the host.
LOCAL_ACTIONS = {"include_role", "include_tasks", "import_role", "import_tasks", "validate_argument_spec", "set_fact",
                 "set_stats", "debug", "fail", "assert", "meta"}  # fmt: skip


def remote_calls_per_host(home: Path) -> float:
    """Module runs on the hosts in the workspace's last deploy (from its runner events), per host: each is one
    round trip over the host's ssh connection."""
    run = sorted(home.glob("runs/*-deploy-*"))[-1]
    calls, hosts = 0, set()
    for path in run.glob("artifacts/*/job_events/*.json"):
        event = json.loads(path.read_text())
        data = event.get("event_data", {})
        remote = str(data.get("task_action", "")).rsplit(".", 1)[-1] not in LOCAL_ACTIONS and data.get("host")
        # A loop's items are its round trips (its own ok event sums them up).
        looped = "results" in (data.get("res") or {})
        if event.get("event") in ("runner_on_ok", "runner_on_failed", "runner_item_on_ok") and remote and not looped:
            calls += 1
            hosts.add(data["host"])
    return round(calls / max(len(hosts), 1), 1)


def containers(options: argparse.Namespace) -> dict:
    """Cold and warm deploys on fresh bare container hosts, by root password, with the default settings."""
    from tests.harness import container_hosts

    engine = os.environ.get("DOCKER_HOST") or "unix:///var/lib/fateops/docker/docker.sock"
    cache = Path(os.environ.get("FATEOPS_TEST_CACHE", "/var/lib/fateops")) / "images"
    results: dict[str, object] = {"hosts": "containers", "deploy": {}}
    with tempfile.TemporaryDirectory(prefix="fateops-bench-") as scratch:
        # The bundle on its own first (cached after its first build): the deploys then ship it, not build it.
        started = time.monotonic()
        subprocess.run(
            [str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", "localhost,", "-c", "local",
             "-e", f"ansible_python_interpreter={sys.executable}", str(REPO / "benchmarks" / "offline_bundle.yml")],
            check=True, capture_output=True, cwd=REPO,
        )  # fmt: skip
        results["bundle_s"] = round(time.monotonic() - started, 1)
        for size in options.sizes:
            config = container_hosts.ContainerHarnessConfig(
                count=size, prefix="fobc", subnet="10.77.7.0/24", cache_dir=cache, docker_host=engine
            )
            harness = container_hosts.up(config)
            try:
                env = {key: value for key, value in os.environ.items() if not key.startswith("FATEOPS_")}
                env["FATEOPS_HOME"] = str(Path(scratch) / f"ws{size}")
                Path(env["FATEOPS_HOME"]).mkdir()
                (Path(env["FATEOPS_HOME"]) / "settings.yml").write_text("fate_federation_engine: rabbitmq\n")
                ids = [str(9999 + i) for i in range(size)]
                args = ["-id", *ids, "-ip", *[host.ip for host in harness.hosts]]
                passwords = "".join(f"{host.password}\n" for host in harness.hosts)
                cold, _, cold_cpu = facade(env, "-f", "deploy", *args, "-pw", "-", stdin=passwords)
                warm = [facade(env, "-f", "deploy", *args) for _ in range(options.repeat)]
                results["deploy"][f"{size}_hosts"] = {
                    "cold_s": round(cold, 1),
                    "cold_controller_cpu_s_per_host": round(cold_cpu / size, 2),
                    "warm_s": [round(run[0], 1) for run in warm],
                    "warm_median_s": round(statistics.median(run[0] for run in warm), 1),
                    "warm_controller_cpu_s_per_host": round(statistics.median(run[2] for run in warm) / size, 2),
                    "warm_remote_calls_per_host": remote_calls_per_host(Path(env["FATEOPS_HOME"])),
                }
            finally:
                container_hosts.down(config)
    deploy = results["deploy"]
    if {"1_hosts", "4_hosts"} <= set(deploy):
        results["warm_ratio_4_to_1"] = round(deploy["4_hosts"]["warm_median_s"] / deploy["1_hosts"]["warm_median_s"], 2)
    return results


if __name__ == "__main__":
    main()
