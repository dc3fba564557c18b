#!/usr/bin/env python3
"""The compose runtime against the native one on the same parties, side by side in one run.

    python3 benchmarks/compose.py [--record PATH] [--repeat 2] [--epochs 10]

Anchor: the native runtime (one venv, supervisord). For each runtime in turn, in a workspace of its own with only
fate_runtime (and, for compose, make images' record and pulls off) in settings.yml: guest 9999 and host 10000 on
127.0.0.1 deployed (cold: no instance yet; the native FATE runtime and the images are already built), re-deployed
(warm, changed=0) --repeat times, the example breast data uploaded, the same hetero LR DAG posted to the guest's
FATE-Flow and timed to success, then deleted. Also the warm `make images` (playbooks/images.yml finding its tags)
and the images' sizes. Needs the Docker engine of DOCKER_HOST (`make docker`) and the images (`make images`);
prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from _local_pair import PARTIES, ROOT, example_data, facade, pair_dag, run_job

# Where make images writes its record (the Makefile's IMAGES_DIR).
CACHE_ROOT = Path(os.environ.get("FATEOPS_TEST_CACHE", "/var/lib/fateops"))
DEFAULT_RECORD = CACHE_ROOT / "images" / "archives" / "fate-images.yml"


def timed(env: dict[str, str], *args: str) -> float:
    started = time.monotonic()
    facade(env, *args)
    return time.monotonic() - started


def one_runtime(runtime: str, record: Path, options: argparse.Namespace, scratch: Path) -> dict[str, object]:
    home = scratch / runtime / "ws"
    home.mkdir(parents=True)
    settings = {"fate_runtime": runtime}
    if runtime == "compose":
        settings |= {"fate_images_record": str(record), "fate_compose_pull": "never"}
    (home / "settings.yml").write_text("".join(f"{key}: {json.dumps(value)}\n" for key, value in settings.items()))
    env = dict(os.environ, FATEOPS_HOME=str(home))
    env.setdefault("FATEOPS_BASE_DIR", str(ROOT / ".cache" / "bench-parties"))
    files = example_data.write("breast", scratch / runtime / "data")
    result: dict[str, object] = {"deploy_cold_s": round(timed(env, "-f", "deploy", *PARTIES), 1)}
    try:
        warm = [timed(env, "-f", "deploy", *PARTIES) for _ in range(options.repeat)]
        result["deploy_warm_s"] = [round(w, 1) for w in warm]
        guest, host = str(files["guest"]), str(files["hosts"][0])
        result["upload_s"] = round(
            timed(env, "-f", "upload", "-gp", "9999", guest, "-hp", "10000", host, "-proj", "bench"), 1
        )
        elapsed, _ = run_job(pair_dag("bench", {"epochs": options.epochs}), poll=1.0)
        result["hetero_lr_s"] = round(elapsed, 1)
    finally:
        result["delete_s"] = round(timed(env, "-f", "delete", *PARTIES), 1)
        if runtime == "compose":
            remove_volumes(PARTIES[1:3])
    print(f"{runtime}: {result}", file=sys.stderr)
    return result


def remove_volumes(party_ids: list[str]) -> None:
    """delete keeps a compose party's named volumes (its tables and models); the benchmark's own go with it, so
    that a later project of the same name starts empty."""
    for party_id in party_ids:
        label = f"label=com.docker.compose.project=confs-{party_id}"
        listed = subprocess.run(
            ["docker", "volume", "ls", "--quiet", "--filter", label], check=True, capture_output=True, text=True
        ).stdout.split()
        if listed:
            subprocess.run(["docker", "volume", "rm", *listed], check=True, capture_output=True)


def images(record: Path) -> dict[str, object]:
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    playbook = Path(sys.executable).parent / "ansible-playbook"
    started = time.monotonic()
    subprocess.run(
        [str(playbook), str(ROOT / "playbooks" / "images.yml"), "-e", f"fate_images_cache_dir={record.parents[1]}"],
        cwd=ROOT, env=env, check=True, capture_output=True,
    )  # fmt: skip
    warm = time.monotonic() - started
    built = yaml.safe_load(record.read_text())["fate_images_built"]
    sizes = {}
    for name, tag in sorted(built.items()):
        size = subprocess.run(
            ["docker", "image", "inspect", "--format", "{{.Size}}", tag], check=True, capture_output=True, text=True
        ).stdout
        sizes[name] = {"tag": tag, "mb": round(int(size) / 1e6)}
    return {"make_images_warm_s": round(warm, 1), "images": sizes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", type=Path, default=DEFAULT_RECORD, help="make images' record (fate-images.yml)")
    parser.add_argument("--repeat", type=int, default=2, help="warm re-deploys per runtime")
    parser.add_argument("--epochs", type=int, default=10, help="hetero LR epochs (FATE's default is 10)")
    options = parser.parse_args()
    if not options.record.is_file():
        sys.exit(f"no image record at {options.record}: run make images (or pass --record)")
    results: dict[str, object] = images(options.record)
    with tempfile.TemporaryDirectory(prefix="fateops-bench-") as scratch:
        for runtime in ("native", "compose"):
            results[runtime] = one_runtime(runtime, options.record, options, Path(scratch))
    native, compose = results["native"], results["compose"]
    assert isinstance(native, dict) and isinstance(compose, dict)
    results["compose_over_native"] = {
        "deploy_cold": round(compose["deploy_cold_s"] / native["deploy_cold_s"], 2),
        "deploy_warm": round(
            statistics.median(compose["deploy_warm_s"]) / statistics.median(native["deploy_warm_s"]), 2
        ),
        "hetero_lr": round(compose["hetero_lr_s"] / native["hetero_lr_s"], 2),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
