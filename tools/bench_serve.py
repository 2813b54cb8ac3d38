"""Load on `edge-runtime serve` over 127.0.0.1: throughput and latency with 1, 4 and 16 clients beside `run`'s
work on the same images, 4 well-behaved clients beside 200 that stall mid-body, memory after 1,000 and after
100,000 requests, and a power monitor unplugged and replugged during the load.

    python -m tools.bench_serve [BUNDLE] [--requests 100000] [--seconds 20] [--stalled 200] [--only-stalled] [--json]

Without BUNDLE it uses (and if needed builds) the demo bundle. The server is a real child process
(`python -m edge_runtime serve`); clients are threads with persistent HTTP/1.1 connections posting PNGs of
the digits test split. `run`'s work (decode a PNG, classify) is timed in this process on the same images.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
from PIL import Image

from edge_runtime.cli.demo import demo_bundle
from edge_runtime.core.datasets import load_digits_dataset
from edge_runtime.core.preprocess import Preprocessor
from edge_runtime.power.profiles import load_profile
from edge_runtime.registry import open_runtime
from edge_runtime.cli.arg_types import doc_summary
from edge_runtime.core.timing import cpu_model
from edge_sim.battery import SimulatedBattery, battery_values
from edge_sim.pty import PtyEmulator


def pngs() -> tuple[list[bytes], np.ndarray]:
    data = load_digits_dataset()
    out = []
    for pixels in data.x_test:
        buffer = io.BytesIO()
        Image.fromarray(pixels[..., 0]).save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out, data.y_test


class Server:
    """``edge-runtime serve BUNDLE --http 127.0.0.1:0 OPTIONS`` as a child process."""

    def __init__(self, bundle: str, *options: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "edge_runtime", "serve", bundle, "--http",
                                         "127.0.0.1:0", "--queue", "64", *options], stderr=subprocess.PIPE, text=True)
        for line in self.process.stderr:
            if "serving http://" in line:
                self.port = int(line.split("http://127.0.0.1:")[1].split(" ")[0])
                break
        else:
            raise RuntimeError("the server did not start")
        threading.Thread(target=lambda: [None for _ in self.process.stderr], daemon=True).start()

    def rss_mb(self) -> float:
        with open(f"/proc/{self.process.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
        return float("nan")

    def stop(self) -> int:
        self.process.terminate()
        return self.process.wait(10)


def load(port: int, bodies: list[bytes], clients: int, requests: int, seconds: float) -> dict[str, float]:
    """``clients`` threads posting until ``requests`` are answered or ``seconds`` pass."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures = [0] * clients
    deadline = time.monotonic() + seconds
    per_client = max(1, requests // clients)

    def client(k: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for i in range(per_client):
            if time.monotonic() >= deadline:
                break
            body = bodies[(k * 7919 + i) % len(bodies)]
            start = time.perf_counter()
            try:
                connection.request("POST", "/classify", body=body)
                response = connection.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            if ok:
                latencies[k].append(time.perf_counter() - start)
            else:
                failures[k] += 1
        connection.close()

    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    all_latencies = np.array([v for per in latencies for v in per])
    return {"clients": clients, "answered": int(all_latencies.size), "failed": int(sum(failures)),
            "requests_per_s": round(all_latencies.size / wall, 1),
            "p50_ms": round(float(np.percentile(all_latencies, 50)) * 1e3, 3),
            "p99_ms": round(float(np.percentile(all_latencies, 99)) * 1e3, 3)}


def stall(port: int, stop: threading.Event) -> None:
    """A client that announces a 100 kB body, sends 10 bytes and waits; when the server gives up on it, again."""
    import socket

    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
                sock.sendall(b"POST /classify HTTP/1.1\r\nHost: bench\r\nContent-Length: 100000\r\n\r\n0123456789")
                sock.settimeout(0.5)
                while not stop.is_set():
                    try:
                        if not sock.recv(4096):
                            break  # answered (408, or 503 over the connection cap) and closed: stall again
                    except TimeoutError:
                        continue
        except OSError:
            stop.wait(0.05)


def stalled_effect(port: int, bodies: list[bytes], stalled: int, seconds: float) -> dict[str, float]:
    """4 well-behaved clients' requests/s without and with ``stalled`` stalling ones, interleaved twice."""
    rates: dict[str, list[float]] = {"alone": [], "beside_stalled": []}
    for _ in range(2):
        rates["alone"].append(load(port, bodies, 4, 10**9, seconds)["requests_per_s"])
        stop = threading.Event()
        threads = [threading.Thread(target=stall, args=(port, stop), daemon=True) for _ in range(stalled)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)  # every staller connected and waiting
        rates["beside_stalled"].append(load(port, bodies, 4, 10**9, seconds)["requests_per_s"])
        stop.set()
        for thread in threads:
            thread.join(5)
    alone, beside = float(np.mean(rates["alone"])), float(np.mean(rates["beside_stalled"]))
    return {"stalled_clients": stalled, "requests_per_s_alone": round(alone, 1),
            "requests_per_s_beside_stalled": round(beside, 1), "ratio": round(beside / alone, 3)}


def run_work_us(bundle: str, bodies: list[bytes], rounds: int = 3) -> float:
    """What `edge-runtime run` does per image (decode the PNG, classify), µs, in this process."""
    runtime = open_runtime(bundle)
    pre = Preprocessor(runtime.bundle.input, runtime.input_quantization)
    plan = runtime.plan_for_alpha(0.5)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for body in bodies:
            runtime.classify(pre.from_pixels(pre.load_pixels(io.BytesIO(body), "image")), plan)
        best = min(best, (time.perf_counter() - start) / len(bodies) * 1e6)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=doc_summary(__doc__))
    parser.add_argument("bundle", nargs="?", help="bundle (default: the demo bundle)")
    parser.add_argument("--requests", type=int, default=100_000, help="requests of the memory run (default 100,000)")
    parser.add_argument("--seconds", type=float, default=20.0, help="longest time of each load level (default 20)")
    parser.add_argument("--stalled", type=int, default=200, help="clients that stall mid-body (default 200)")
    parser.add_argument("--only-stalled", action="store_true", help="measure only the stalled clients' effect")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    bundle = args.bundle
    if bundle is None:
        bundle = demo_bundle()
    bodies, _ = pngs()
    report: dict = {"bundle": bundle}
    server = Server(bundle, "--alpha", "0.5")
    try:
        report["stalled"] = stalled_effect(server.port, bodies, args.stalled, min(args.seconds, 10.0))
    finally:
        server.stop()
    stalled = report["stalled"]
    stalled_line = (f"  4 clients beside {stalled['stalled_clients']} stalling mid-body: "
                    f"{stalled['requests_per_s_beside_stalled']:,.0f} requests/s against "
                    f"{stalled['requests_per_s_alone']:,.0f} alone ({stalled['ratio']:.3f}×)")
    if args.only_stalled:
        print(json.dumps({**report, "cpu": cpu_model()}) if args.json else
              f"bundle {bundle}; CPU: {cpu_model()}\n{stalled_line}")
        return 0
    server = Server(bundle, "--alpha", "0.5")
    try:
        report["levels"] = [load(server.port, bodies, clients, 20_000, args.seconds) for clients in (1, 4, 16)]
        report["run_us_per_image"] = round(run_work_us(bundle, bodies), 2)
        single = report["levels"][0]
        report["http_overhead_ratio"] = round(single["p50_ms"] * 1e3 / report["run_us_per_image"], 2)
        load(server.port, bodies, 4, 1_000, 60)
        report["rss_mb_after_1000"] = round(server.rss_mb(), 1)
        rest = load(server.port, bodies, 4, args.requests - 1_000, 600)
        report["rss_mb_after_all"] = round(server.rss_mb(), 1)
        report["requests_in_memory_run"] = 1_000 + rest["answered"] + rest["failed"]
    finally:
        report["exit_code"] = server.stop()
    with tempfile.TemporaryDirectory() as folder:  # the monitor unplugged and replugged under load
        link = os.path.join(folder, "tty")
        ina = load_profile("adafruit-ina219-sketch", "monitor")
        emulator = PtyEmulator(ina, link, battery_values(SimulatedBattery(load_profile("liion-1s-pisugar", "battery"),
                                                                          soc=0.6)), interval_s=0.05).open()
        emulator.start()
        server = Server(bundle, "--monitor", f"{ina.name}@{link}", "--battery", "liion-1s-pisugar")
        try:
            result: dict = {}
            loader = threading.Thread(target=lambda: result.update(load(server.port, bodies, 4, 40_000, 12.0)))
            loader.start()
            time.sleep(3.0)  # the benchmark's schedule: unplug 3 s in, replug 3 s later
            emulator.unplug()
            time.sleep(3.0)
            emulator.replug()
            loader.join()
            report["monitor_replugged"] = result
        finally:
            server.stop()
            emulator.stop()
    if args.json:
        print(json.dumps({**report, "cpu": cpu_model()}))
        return 0
    print(f"bundle {bundle}; CPU: {cpu_model()}; `run`'s work per image (decode a PNG, classify): "
          f"{report['run_us_per_image']:.1f} µs")
    for level in report["levels"]:
        print(f"  {level['clients']:>2} client(s): {level['requests_per_s']:8,.0f} requests/s, p50 {level['p50_ms']:.3f} ms, "
              f"p99 {level['p99_ms']:.3f} ms, {level['failed']} failed")
    print(f"  one client's p50 ÷ run's work: {report['http_overhead_ratio']:.1f}×")
    print(stalled_line)
    print(f"  server memory: {report['rss_mb_after_1000']:.1f} MB after 1,000 requests, {report['rss_mb_after_all']:.1f} MB "
          f"after {report['requests_in_memory_run']:,d}")
    replug = report["monitor_replugged"]
    print(f"  monitor unplugged 3 s into the load and replugged 3 s later: {replug['answered']:,d} answered, "
          f"{replug['failed']} failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
