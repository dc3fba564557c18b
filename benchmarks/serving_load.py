"""Latency and throughput of the serving service: a guest and one host on loopback, driven by a load generator.

    python benchmarks/serving_load.py [--requests 20000] [--concurrency 8] [--batch-size 0] [--warmup 500]

Starts a host and a guest service (python -m fateops_serving) with a synthetic hetero LR model (10 guest and
20 host features, like FATE's breast example), then runs the load generator in a separate process: a fixed number
of POST /federation/v1/inference requests over N concurrent keep-alive connections, each bounded by a timeout,
so the run always ends. --batch-size B > 0 sends batchInference requests of B rows instead and counts rows.
Prints one JSON object: latency percentiles (ms, per HTTP request), predictions per second, errors.
Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "unit" / "fixtures" / "serving"))

REQUEST_TIMEOUT_SECONDS = 5.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), to report cost independent of machine load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    position = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[position]


async def drive(url: str, payloads: list[bytes], requests: int, concurrency: int, warmup: int) -> dict[str, Any]:
    """warmup unmeasured requests, then `requests` measured ones, each phase by `concurrency` workers."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def phase(count: int) -> tuple[list[float], dict[str, int], float]:
            latencies: list[float] = []
            errors: dict[str, int] = {}
            numbers = iter(range(count))

            async def worker() -> None:
                for number in numbers:
                    started = time.perf_counter()
                    try:
                        async with session.post(url, data=payloads[number % len(payloads)], headers=headers) as answer:
                            retcode = json.loads(await answer.read()).get("retcode")
                        outcome = "ok" if retcode == 0 else f"retcode {retcode}"
                    except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                        outcome = type(error).__name__
                    if outcome == "ok":
                        latencies.append(time.perf_counter() - started)
                    else:
                        errors[outcome] = errors.get(outcome, 0) + 1

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return latencies, errors, time.perf_counter() - started

        await phase(warmup)
        latencies, errors, wall = await phase(requests)
    latencies.sort()
    return {"latencies": latencies, "errors": errors, "wall_seconds": wall}


def load_generator_main(args: argparse.Namespace) -> None:
    payloads = [line.encode() for line in Path(args.payloads).read_text().splitlines() if line]
    import uvloop

    # The same event loop as the service, so the generator steals as little CPU from it as possible.
    result = uvloop.run(drive(args.url, payloads, args.requests, args.concurrency, args.warmup))
    own_cpu = time.process_time()
    latencies = result["latencies"]
    ms = [value * 1000 for value in latencies]
    rows = max(1, args.batch_size)
    report = {
        "requests": args.requests,
        "concurrency": args.concurrency,
        "batch_size": args.batch_size,
        "ok": len(latencies),
        "errors": result["errors"],
        "wall_seconds": round(result["wall_seconds"], 3),
        "p50_ms": round(percentile(ms, 0.50), 3),
        "p90_ms": round(percentile(ms, 0.90), 3),
        "p99_ms": round(percentile(ms, 0.99), 3),
        "max_ms": round(ms[-1], 3) if ms else None,
        "requests_per_second": round(len(latencies) / result["wall_seconds"], 1),
        "predictions_per_second": round(len(latencies) * rows / result["wall_seconds"], 1),
        "load_generator_cpu_seconds": round(own_cpu, 3),
    }
    print(json.dumps(report))


def build_payloads(batch_size: int, count: int = 64) -> list[str]:
    import serving_harness as harness

    payloads = []
    for number in range(count):
        if batch_size:
            rows = [
                {
                    "index": i,
                    "featureData": harness.guest_features(number * batch_size + i, BENCH_GUEST_HEADER),
                    "sendToRemoteFeatureData": {"id": harness.ROW_IDS[(number + i) % len(harness.ROW_IDS)]},
                }
                for i in range(batch_size)
            ]
            payloads.append(json.dumps({"head": {"serviceId": "bench"}, "body": {"batchDataList": rows}}))
        else:
            features = harness.guest_features(number, BENCH_GUEST_HEADER)
            row_id = harness.ROW_IDS[number % len(harness.ROW_IDS)]
            payloads.append(json.dumps(harness.inference_request("bench", features, row_id)))
    return payloads


BENCH_GUEST_HEADER = tuple(f"x{i}" for i in range(10))
BENCH_HOST_HEADER = tuple(f"x{i}" for i in range(20))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=0)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--drive", dest="url", help=argparse.SUPPRESS)
    parser.add_argument("--payloads", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.url:
        load_generator_main(args)
        return 0

    import serving_harness as harness

    with tempfile.TemporaryDirectory(prefix="serving-bench-") as temp:
        directory = Path(temp)
        data_dir = directory / "data"
        host = harness.make_host("10000", 1, BENCH_HOST_HEADER)
        guest = harness.make_guest("9999", 2, BENCH_GUEST_HEADER)
        harness.install_model(
            data_dir, service_id="bench", model_id="bench", model_version="0", guest=guest, hosts=[host]
        )
        host_service = harness.make_service(directory, "host", data_dir=str(data_dir), party_ids=["10000"]).start()
        guest_service = None
        try:
            guest_service = harness.make_service(
                directory, "guest", data_dir=str(data_dir), party_ids=["9999"], peers={"10000": host_service.address}
            ).start()
            payload_file = directory / "payloads.jsonl"
            payload_file.write_text("\n".join(build_payloads(args.batch_size)) + "\n")
            path = "/federation/v1/batchInference" if args.batch_size else "/federation/v1/inference"
            command = [
                sys.executable,
                __file__,
                "--drive",
                guest_service.url(path),
                "--payloads",
                str(payload_file),
                "--requests",
                str(args.requests),
                "--concurrency",
                str(args.concurrency),
                "--batch-size",
                str(args.batch_size),
                "--warmup",
                str(args.warmup),
            ]
            budget = 60 + args.requests * REQUEST_TIMEOUT_SECONDS / max(1, args.concurrency)
            before = {
                name: cpu_seconds(s.process.pid) for name, s in (("guest", guest_service), ("host", host_service))
            }
            generator = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=min(budget, 600),
                env={**os.environ, "PYTHONPATH": str(harness.SERVING_DIR)},
            )
            if generator.returncode != 0:
                print(generator.stderr, file=sys.stderr)
                return 1
            report = json.loads(generator.stdout)
            # CPU per prediction is what the 2-core targets hinge on; it does not depend on other load.
            used = {
                name: cpu_seconds(s.process.pid) - before[name]
                for name, s in (("guest", guest_service), ("host", host_service))
            }
            used["load_generator"] = report.pop("load_generator_cpu_seconds")
            predictions = (args.requests + args.warmup) * max(1, args.batch_size)
            report["cpu_ms_per_prediction"] = {
                name: round(1000 * value / predictions, 4) for name, value in used.items()
            }
            report["load_average"] = os.getloadavg()[0]
            report["machine_cores"] = os.cpu_count()
            print(json.dumps(report))
        finally:
            if guest_service is not None:
                guest_service.stop()
            host_service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
