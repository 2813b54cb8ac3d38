"""edge-runtime serve: HTTP, a watched folder and a camera feeding one interpreter thread; health, metrics,
bad requests, a full queue, SIGTERM with requests in flight, the systemd unit, and α from a live monitor."""

from __future__ import annotations

import getpass
import http.client
import io
import json
import os
import signal
import threading

import numpy as np
import pytest
from PIL import Image

from edge_runtime.serve.service import Service
from edge_runtime.serve.watch import FolderWatcher
from edge_runtime.serve.worker import FixedAlpha, Job
from tests.waiting import Child, Collector


def png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels[..., 0]).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def service(runtime, tmp_path):
    made = Service(runtime, FixedAlpha(0.5, runtime.plan_for_alpha(0.5)), results=str(tmp_path / "results.jsonl"),
                   queue_size=4)
    records = Collector()
    made.worker.observers.append(records.append)
    made.records = records
    yield made
    made.stop()


def request(server, method, path, body=None, headers=None):
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_classify_health_and_metrics_over_http(service, digits):
    server = service.add_http(("127.0.0.1", 0), 10_000_000, 1_000_000)
    service.start()
    for i in range(5):
        status, _, body = request(server, "POST", "/classify", png(digits.x_test[i]))
        record = json.loads(body)
        assert status == 200 and record["class_index"] == int(record["label"])
        assert {"confidence", "exit", "exit_name", "macs", "latency_us", "alpha", "soc", "alpha_source"} <= set(record)
        assert record["alpha"] == 0.5 and record["alpha_source"] == "fixed" and record["soc"] is None
    status, _, body = request(server, "GET", "/health")
    health = json.loads(body)
    assert status == 200 and health["status"] == "ok" and health["served"] == 5 and health["refused"] == 0
    assert health["bundle"] == service.runtime.bundle.path and health["uptime_s"] > 0
    assert health["audit"]["audited"] == 0 and health["audit"]["status"] == "unknown"  # 2% of 5 images: none yet
    assert health["audit"]["budget"] == pytest.approx(0.03) and health["audit"]["skipped_for_budget"] == 0
    status, headers, body = request(server, "GET", "/metrics")
    text = body.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert 'edge_requests_total{outcome="ok",source="http"} 5.0' in text and "edge_inference_seconds_bucket" in text
    with open(service.results.path) as f:
        assert len(f.read().splitlines()) == 5


def test_results_to_standard_output(runtime, digits, capsys):
    """--results -: a watched folder's or a camera's answers have no caller, so a person at the terminal reads
    them on stdout, one JSON line each, written whole (once they were only in a file, or not kept)."""
    made = Service(runtime, FixedAlpha(0.0, runtime.plan_for_alpha(0.0)), results="-", queue_size=4)
    records = Collector()
    made.worker.observers.append(records.append)
    try:
        made.start()
        for i in range(3):
            assert made.worker.submit(Job(digits.x_test[i], "test", f"image {i}"))
        assert records.wait_for(lambda r: len(r) == 3)
    finally:
        made.stop()
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["name"] for line in lines] == ["image 0", "image 1", "image 2"]
    assert made.results.written == 3


def test_health_is_degraded_when_audited_agreement_breaks_the_promise(digits_bundle, digits):
    """Noise instead of digits, at the cheapest point (no floor): the input exit and the monolithic network
    rarely agree, far under the agreement the α table promises for clean digits; /health says so."""
    from edge_runtime.registry import open_runtime

    runtime = open_runtime(digits_bundle, floor="none")
    promise = runtime.alpha_plans.expected_agreement(1.0)
    service = Service(runtime, FixedAlpha(1.0, runtime.plan_for_alpha(1.0)), queue_size=4, audit_rate=1.0)
    server = service.add_http(("127.0.0.1", 0), 10_000_000, 1_000_000)
    service.start()
    try:
        noise = np.random.default_rng(0).integers(0, 256, size=(40, 8, 8, 1), dtype=np.uint8)
        for pixels in noise:
            status, _, body = request(server, "POST", "/classify", png(pixels))
            assert status == 200 and "agrees" in json.loads(body)["audit"]
        health = json.loads(request(server, "GET", "/health")[2])
        metrics = request(server, "GET", "/metrics")[2].decode()
    finally:
        service.stop()
    audit = health["audit"]
    assert audit["audited"] == 40 and audit["promise"] == pytest.approx(promise, abs=1e-6)
    assert audit["high"] < promise - 0.01 and health["status"] == audit["status"] == "degraded"
    assert f'edge_agreement{{value="promise"}} {audit["promise"]}' in metrics
    assert f'edge_audited_total{{agrees="yes"}} {float(audit["agreed"])}' in metrics


def test_the_audit_budget_and_the_cost_sign_reach_health_and_metrics(digits_bundle, digits):
    """Clean digits at the cheapest point, every image scheduled for an audit with a budget of 5% of the MACs:
    an audit costs many answers, so most scheduled audits are skipped, and /health and /metrics say so."""
    from edge_runtime.registry import open_runtime

    runtime = open_runtime(digits_bundle)
    service = Service(runtime, FixedAlpha(1.0, runtime.plan_for_alpha(1.0)), queue_size=4, audit_rate=1.0,
                      audit_budget=0.05)
    server = service.add_http(("127.0.0.1", 0), 10_000_000, 1_000_000)
    service.start()
    try:
        for pixels in digits.x_test[:60]:
            assert request(server, "POST", "/classify", png(pixels))[0] == 200
        health = json.loads(request(server, "GET", "/health")[2])
        metrics = request(server, "GET", "/metrics")[2].decode()
    finally:
        service.stop()
    audit = health["audit"]
    assert audit["budget"] == 0.05 and audit["skipped_for_budget"] > 30 and audit["audited"] < 30
    assert audit["audited"] + audit["skipped_for_budget"] == 60
    assert f"edge_audit_skipped_total {float(audit['skipped_for_budget'])}" in metrics
    ratio = float(next(line.split()[1] for line in metrics.splitlines() if line.startswith("edge_cost_vs_table ")))
    assert 0.3 < ratio < 3.0  # clean digits cost about what the table expects


def test_adapt_moves_the_cap_while_serving(digits_bundle, caplog):
    """The same noise with adapt on: after at least 10 audited images the service stops using the cheapest
    points, logs it, and /health's audit carries the cap."""
    import logging

    from edge_runtime.registry import open_runtime

    runtime = open_runtime(digits_bundle, floor="none")
    service = Service(runtime, FixedAlpha(1.0, runtime.plan_for_alpha(1.0)), queue_size=4, audit_rate=1.0,
                      adapt=True)
    server = service.add_http(("127.0.0.1", 0), 10_000_000, 1_000_000)
    service.start()
    try:
        noise = np.random.default_rng(0).integers(0, 256, size=(60, 8, 8, 1), dtype=np.uint8)
        with caplog.at_level(logging.WARNING, logger="edge_runtime.serve.worker"):
            records = [json.loads(request(server, "POST", "/classify", png(p))[2]) for p in noise]
        health = json.loads(request(server, "GET", "/health")[2])
    finally:
        service.stop()
    capped = [r["audit"]["cap"] < 1.0 for r in records]
    first = capped.index(True)
    assert 9 <= first < 59 and all(capped[first:])  # not before 10 audited images
    assert health["audit"]["cap"] < 1.0 and health["audit"]["audited"] < 60  # restarted at the change
    assert sum("inputs now run at least to" in m for m in caplog.messages) >= 1
    assert np.mean([r["macs"] for r in records[first + 1:]]) > np.mean([r["macs"] for r in records[:first]])


def test_bad_requests_get_a_json_error_and_the_service_keeps_serving(service, digits):
    server = service.add_http(("127.0.0.1", 0), 50_000, 10_000)
    service.start()
    status, _, body = request(server, "POST", "/classify", b"not an image at all")
    assert status == 415 and "is not an image" in json.loads(body)["error"]
    status, _, body = request(server, "POST", "/classify", b"x" * 60_000)
    assert status == 413 and "more than the 50,000 accepted" in json.loads(body)["error"]
    bomb = io.BytesIO()
    Image.new("1", (4000, 4000)).save(bomb, format="PNG")  # 16 megapixels in a few kilobytes
    assert len(bomb.getvalue()) < 50_000
    status, _, body = request(server, "POST", "/classify", bomb.getvalue())
    assert status == 413 and "more than the 10,000 accepted" in json.loads(body)["error"]
    status, _, body = request(server, "GET", "/nowhere")
    assert status == 404 and "expected POST /classify" in json.loads(body)["error"]
    status, headers, _ = request(server, "GET", "/classify")
    assert status == 405 and headers["Allow"] == "POST"
    status, _, body = request(server, "POST", "/classify", png(digits.x_test[0]))
    assert status == 200  # still serving
    health = json.loads(request(server, "GET", "/health")[2])
    assert health["served"] == 1 and health["refused"] == 3


def test_a_full_queue_answers_503_with_retry_after(service, digits):
    server = service.add_http(("127.0.0.1", 0), 10_000_000, 1_000_000)
    service.start()
    release, holding = threading.Event(), threading.Event()

    def hold(record, error):
        holding.set()
        release.wait(30)

    pixels = digits.x_test[0]
    assert service.worker.submit(Job(pixels, "test", "holder", hold))
    assert holding.wait(30)  # the worker is busy with the holder
    for i in range(4):  # fill the queue (size 4)
        assert service.worker.submit(Job(pixels, "test", f"filler {i}"))
    status, headers, body = request(server, "POST", "/classify", png(pixels))
    assert status == 503 and headers["Retry-After"] == "1" and "the queue is full" in json.loads(body)["error"]
    release.set()
    assert service.records.wait_for(lambda records: len(records) == 5)
    assert request(server, "POST", "/classify", png(pixels))[0] == 200


def test_a_watched_folder_takes_each_image_once_when_it_is_whole(service, digits, tmp_path):
    folder = tmp_path / "incoming"
    folder.mkdir()
    (folder / "before.png").write_bytes(png(digits.x_test[0]))  # already there at start
    watcher = FolderWatcher(str(folder), service, settle_s=1.0)  # scans driven by the test, with its own clock
    service.start()
    watcher.scan(0.0)
    watcher.scan(0.1)
    assert service.records.wait_for(lambda r: len(r) == 1) and service.records.items[0]["name"].endswith("before.png")
    whole = png(digits.x_test[1])
    half = folder / "half.png"
    half.write_bytes(whole[:len(whole) // 2])  # a writer halfway through
    (folder / "notes.txt").write_text("not an image")
    (folder / "upload.png.partial").write_bytes(whole)  # a temporary name: never read
    watcher.scan(0.2)
    watcher.scan(0.3)  # unchanged, but does not decode: waits (not skipped within the settle time)
    assert watcher.skipped == 0
    half.write_bytes(whole)  # the writer finishes
    watcher.scan(0.4)  # changed: seen again
    watcher.scan(0.5)
    assert service.records.wait_for(lambda r: len(r) == 2) and service.records.items[1]["name"].endswith("half.png")
    watcher.scan(1.6)  # notes.txt has been still for over a second and never decoded: skipped
    watcher.scan(2.0)
    assert watcher.skipped == 1 and len(service.records.items) == 2
    with open(service.results.path) as f:
        names = [json.loads(line)["name"] for line in f]
    assert [os.path.basename(n) for n in names] == ["before.png", "half.png"]  # each once


def test_camera_frames_from_a_video_file(service, digits, tmp_path):
    cv2 = pytest.importorskip("cv2", reason="the camera source needs OpenCV (the camera extra)")
    path = str(tmp_path / "clip.avi")
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 64))
    for i in range(12):
        frame = np.kron(digits.x_test[i][..., 0], np.ones((8, 8), np.uint8))
        writer.write(np.repeat(frame[..., None], 3, axis=2))
    writer.release()
    camera = service.add_camera(path, fps=200.0)
    service.start()
    assert camera.ended.wait(30) and camera.frames == 12
    assert service.records.wait_for(lambda r: len(r) == 12 - camera.dropped)
    labels = [int(r["label"]) for r in service.records.items]
    assert np.mean(np.array(labels) == digits.y_test[:len(labels)]) >= 0.5  # frames are the digits, resized back


def test_alpha_follows_a_live_monitor_while_serving(runtime, digits, tmp_path):
    from edge_runtime.power.live import LiveAlpha
    from edge_runtime.power.policies import Linear
    from edge_runtime.power.profiles import load_profile
    from edge_sim.battery import SimulatedBattery, battery_values
    from edge_sim.pty import PtyEmulator

    ina = load_profile("adafruit-ina219-sketch", "monitor")
    cell = load_profile("liion-1s-pisugar", "battery")
    battery = SimulatedBattery(cell, soc=0.9)
    link = str(tmp_path / "tty")
    emulator = PtyEmulator(ina, link, battery_values(battery), interval_s=0.01).open()
    live = LiveAlpha(ina, link, cell, Linear(), runtime.plan_for_alpha, grace_s=5.0)
    live.start()
    emulator.start()
    service = Service(runtime, live, live=live)
    records = Collector()
    service.worker.observers.append(records.append)
    service.start()
    try:
        assert live.wait_first(10)
        seen = []
        for soc in (0.9, 0.5, 0.1):
            battery.consume((battery.soc - soc) * battery.capacity_j, 0.0)  # the cell drains
            count = live.samples
            assert live.wait_samples(count + 3, 10)
            assert service.worker.submit(Job(digits.x_test[0], "test", f"at {soc}"))
            assert records.wait_for(lambda r: len(r) == len(seen) + 1)
            seen.append(records.items[-1])
    finally:
        service.stop()
        emulator.stop()
    assert all(r["alpha_source"] == "monitor" for r in seen)
    assert seen[0]["alpha"] < seen[1]["alpha"] < seen[2]["alpha"]  # α = 1 − state of charge rose
    assert seen[0]["soc"] > seen[2]["soc"]


def test_sigterm_with_requests_in_flight_exits_0_and_keeps_what_it_answered(digits_bundle, digits, tmp_path):
    results = str(tmp_path / "results.jsonl")
    child = Child("edge_runtime", "serve", digits_bundle, "--http", "127.0.0.1:0", "--results", results)
    line = child.wait_line(lambda text: "serving http://" in text)
    port = int(line.split("http://127.0.0.1:")[1].split(" ")[0])
    answers = Collector()

    def client(i):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            for j in range(20):
                connection.request("POST", "/classify", body=png(digits.x_test[(i + j) % 50]))
                response = connection.getresponse()
                answers.append(response.status)
                response.read()
        except (ConnectionError, http.client.HTTPException):
            answers.append("closed")
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(4)]
    for thread in threads:
        thread.start()
    assert answers.wait_for(lambda a: len(a) >= 10)  # requests are flowing
    child.process.send_signal(signal.SIGTERM)
    code, _ = child.finish(timeout=5)
    for thread in threads:
        thread.join(10)
    assert code == 0, child.lines.items
    assert any("stopped:" in line for line in child.lines.items)
    with open(results) as f:
        kept = [json.loads(line) for line in f]
    ok = answers.items.count(200)
    assert ok >= 10 and len(kept) >= ok  # every answer given is in the results file
    assert set(answers.items) <= {200, 503, "closed"}
    assert {record["alpha"] for record in kept} == {0.0}  # no --monitor, no --alpha: α = 0 (it was 0.5)


def test_the_systemd_unit(digits_bundle, capsys):
    from edge_runtime.cli.main import main

    assert main(["serve", digits_bundle, "--http", "0.0.0.0:8080", "--alpha", "0.4", "--print-systemd-unit"]) == 0
    unit = capsys.readouterr().out
    assert "[Service]" in unit and "Restart=on-failure" in unit and f"User={getpass.getuser()}" in unit
    assert f"WorkingDirectory={os.getcwd()}" in unit and "WantedBy=multi-user.target" in unit
    exec_line = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert " -m edge_runtime serve " in exec_line and os.path.abspath(digits_bundle) in exec_line
    assert "--http 0.0.0.0:8080 --alpha 0.4" in exec_line and "--print-systemd-unit" not in exec_line


def test_a_response_leaves_in_one_write(service):
    """Headers and body written apart made every request wait 40 ms for the client's delayed ACK."""
    from edge_runtime.serve.http import ClassifyServer, Handler

    class Raw(io.RawIOBase):
        def __init__(self):
            self.writes = []

        def writable(self):
            return True

        def write(self, data):
            self.writes.append(bytes(data))
            return len(data)

    raw = Raw()

    class FakeSocket:
        def makefile(self, mode, buffering=-1):
            if "r" in mode:
                return io.BytesIO(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return io.BufferedWriter(raw, buffering) if buffering > 0 else raw

        def setsockopt(self, *args):
            pass

        def settimeout(self, seconds):
            pass

    server = ClassifyServer.__new__(ClassifyServer)
    server.service = service
    server.read_timeout = 10.0
    Handler(FakeSocket(), ("127.0.0.1", 1), server)
    assert len(raw.writes) == 1 and raw.writes[0].startswith(b"HTTP/1.1 200") and b'"status": "ok"' in raw.writes[0]


def test_a_client_that_stalls_mid_body_gets_408_within_the_read_deadline(service, digits):
    """A client that sent fewer bytes than its Content-Length held a connection for over 40 s."""
    import socket

    server = service.add_http(("127.0.0.1", 0), 10_000_000, 1_000_000, read_timeout=0.5)
    service.start()
    body = png(digits.x_test[0])
    stalled = socket.create_connection(server.server_address[:2], timeout=30)
    try:
        stalled.sendall(b"POST /classify HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:10])
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"\n"):
            chunk = stalled.recv(4096)  # the server answers on its own once the deadline has passed
            if not chunk:
                break
            answer += chunk
    finally:
        stalled.close()
    assert answer.startswith(b"HTTP/1.1 408") and b"10 of " in answer
    status, _, _ = request(server, "POST", "/classify", body)
    assert status == 200  # still serving


def test_beyond_the_connection_cap_a_new_connection_gets_503_at_once(service, digits):
    import socket

    server = service.add_http(("127.0.0.1", 0), 10_000_000, 1_000_000, read_timeout=30, max_connections=2)
    service.start()
    idle = [socket.create_connection(server.server_address[:2], timeout=30) for _ in range(2)]
    try:
        for sock in idle:  # each holds a slot: the server has read its request line and waits for headers
            sock.sendall(b"POST /classify HTTP/1.1\r\n")
        status, headers, body = request(server, "GET", "/health")
        while status == 200:  # the two slots are taken once both handler threads run; until then, a free slot
            status, headers, body = request(server, "GET", "/health")
        assert status == 503 and headers["Retry-After"] == "1" and "too many connections" in json.loads(body)["error"]
    finally:
        for sock in idle:
            sock.close()


def test_a_busy_port_is_named(service):
    from edge_runtime.errors import EdgeRuntimeError

    first = service.add_http(("127.0.0.1", 0), 10_000_000, 1_000_000)
    port = first.server_address[1]
    other = Service(service.runtime, FixedAlpha(0.0, service.runtime.plan_for_alpha(0.0)), queue_size=1)
    try:
        with pytest.raises(EdgeRuntimeError, match=rf"--http 127.0.0.1:{port}: the address is already in use"):
            other.add_http(("127.0.0.1", port), 10_000_000, 1_000_000)
    finally:
        other.stop()


def test_a_multipart_upload_of_one_image_is_classified(service, digits):
    """curl -F image=@photo.png, the way most clients upload files, got a generic 415."""
    server = service.add_http(("127.0.0.1", 0), 10_000_000, 1_000_000)
    service.start()
    boundary = "edgeboundary42"

    def form(*files):
        parts = [f"--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n".encode()]
        for i, content in enumerate(files):
            parts.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"image{i}\"; filename=\"d{i}.png\"\r\n"
                         f"Content-Type: image/png\r\n\r\n".encode() + content + b"\r\n")
        return b"".join(parts) + f"--{boundary}--\r\n".encode()

    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    status, _, body = request(server, "POST", "/classify", form(png(digits.x_test[3])), headers)
    assert status == 200
    direct = json.loads(request(server, "POST", "/classify", png(digits.x_test[3]))[2])
    assert json.loads(body)["class_index"] == direct["class_index"]
    status, _, body = request(server, "POST", "/classify", form(png(digits.x_test[0]), png(digits.x_test[1])), headers)
    assert status == 400 and "with 2 files" in json.loads(body)["error"]
    status, _, body = request(server, "POST", "/classify", b"hello", {"Content-Type": "text/plain"})
    assert status == 415 and "curl -F image=@photo.jpg" in json.loads(body)["error"]
