"""A real Toxiproxy client library from PyPI, toxiproxy-python, drives `chaosday proxy`
unchanged: it creates proxies and toxics, and each toxic's effect shows on real traffic to
upstreams this test starts (a TCP echo server and an HTTP server).

Run by ./scripts/test with CHAOSDAY_BIN pointing at the binary. Timing margins are
generous: the assertions check that an effect is there, not how precise it is.
"""

import ctypes
import http.server
import json
import os
import signal
import socket
import socketserver
import subprocess
import threading
import time
import urllib.request

import pytest
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

# The bound on every network wait, in seconds.
LIMIT = 10
BLOB = bytes(range(256)) * 800  # 200 KiB served by the HTTP upstream
PR_SET_PDEATHSIG = 1


def die_with_parent():
    """In the child: SIGTERM when pytest dies, so that no server outlives a killed run."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(65536)
            if not data:
                return
            self.request.sendall(data)


class Blob(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(BLOB)))
        self.end_headers()
        self.wfile.write(BLOB)

    def log_message(self, *args):
        pass


def serve_in_background(server):
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return "127.0.0.1:%d" % server.server_address[1]


@pytest.fixture(scope="module")
def echo():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    yield serve_in_background(server)
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def web():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Blob)
    yield serve_in_background(server)
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """`chaosday proxy` on a free port, and the client pointed at it."""
    binary = os.environ.get("CHAOSDAY_BIN")
    if not binary or not os.access(binary, os.X_OK):
        pytest.fail("set CHAOSDAY_BIN to the chaosday binary (./scripts/test does)")
    state = tmp_path_factory.mktemp("state")
    stderr = open(state / "stderr.log", "w+")
    process = subprocess.Popen(
        # Port 0: chaosday binds a free port and its first line says which (a port bound and
        # released here could go to another connection before chaosday binds it).
        [binary, "proxy", "--port", "0", "--output", "json", "--seed", "1"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        env={**os.environ, "CHAOSDAY_STATE_DIR": str(state)},
        text=True,
        preexec_fn=die_with_parent,
    )
    lines = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(LIMIT)
    assert lines and lines[0], "chaosday proxy did not say where it listens"
    announced = json.loads(lines[0])
    host, _, port = announced["address"].rpartition(":")
    assert host == "127.0.0.1" and int(port) != 0, announced
    port = int(port)
    toxiproxy = Toxiproxy()
    toxiproxy.update_api_consumer("127.0.0.1", port)
    assert toxiproxy.running()
    yield toxiproxy
    process.terminate()
    try:
        assert process.wait(timeout=LIMIT) == 0
    finally:
        if process.poll() is None:
            process.kill()
        stderr.seek(0)
        print(stderr.read())
        stderr.close()


@pytest.fixture
def proxy(client, echo, request):
    """A proxy to the echo server, named after the test, destroyed after it."""
    created = client.create(upstream=echo, name=request.node.name, listen="127.0.0.1:0")
    yield created
    existing = client.get_proxy(created.name)
    if existing is not None:
        existing.destroy()


def connect(listen):
    host, port = listen.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=LIMIT)


def round_trip(conn, payload=b"ping"):
    """Sends `payload` through an echo upstream and reads it back; the seconds it took."""
    start = time.monotonic()
    conn.sendall(payload)
    back = b""
    while len(back) < len(payload):
        chunk = conn.recv(65536)
        assert chunk, "the connection closed before the echo came back"
        back += chunk
    assert back == payload
    return time.monotonic() - start


def fetch(listen):
    """GETs the HTTP upstream's blob through `listen`; the seconds it took."""
    start = time.monotonic()
    with urllib.request.urlopen("http://%s/blob" % listen, timeout=LIMIT) as answer:
        body = answer.read()
    assert body == BLOB
    return time.monotonic() - start


def assert_dropped(conn):
    """The proxy closed or reset `conn`."""
    try:
        assert conn.recv(16) == b"", "data came through a dropped connection"
    except ConnectionResetError:
        pass


def test_the_client_sees_the_server_running_and_its_version(client):
    assert client.running()
    assert json.loads(client.version()) == {"version": "2.12.0+chaosday"}


def test_a_proxy_created_by_the_client_carries_bytes_to_its_upstream(client, proxy, echo):
    assert proxy.listen != "127.0.0.1:0", "the real port is not in the answer"
    assert proxy.upstream == echo and proxy.enabled is True
    listed = client.proxies()[proxy.name]
    assert (listed.listen, listed.upstream, listed.enabled) == (proxy.listen, echo, True)
    with connect(proxy.listen) as conn:
        round_trip(conn, b"hello through chaosday")
        round_trip(conn, os.urandom(100_000))
    with pytest.raises(ProxyExists):
        client.create(upstream=echo, name=proxy.name)
    # The server's own 409, past the client's check.
    with pytest.raises(ProxyExists):
        APIConsumer.post("/proxies", json={"name": proxy.name, "upstream": echo})


def test_a_latency_toxic_delays_open_and_new_connections_until_it_is_destroyed(proxy):
    with connect(proxy.listen) as conn:
        assert round_trip(conn) < 0.25
        proxy.add_toxic(type="latency", attributes={"latency": 300})
        toxic = proxy.get_toxic("latency_downstream")
        assert (toxic.type, toxic.stream, toxic.toxicity) == ("latency", "downstream", 1)
        assert toxic.attributes == {"latency": 300, "jitter": 0}
        slow = round_trip(conn)
        assert 0.3 <= slow < 3, "latency 300 ms, round trip %.3f s on an open connection" % slow
        with connect(proxy.listen) as fresh:
            slow = round_trip(fresh)
            assert 0.3 <= slow < 3, "latency 300 ms, round trip %.3f s on a new connection" % slow
        assert proxy.destroy_toxic("latency_downstream")
        fast = round_trip(conn)
        assert fast < 0.25, "the toxic outlived its removal: %.3f s" % fast
    assert proxy.toxics() == {}


def test_a_bandwidth_toxic_slows_a_download_to_its_rate(client, web):
    proxy = client.create(upstream=web, name="bandwidth_web", listen="127.0.0.1:0")
    try:
        assert fetch(proxy.listen) < 1, "too slow without a toxic to measure anything"
        proxy.add_toxic(type="bandwidth", attributes={"rate": 100})  # KB/s
        took = fetch(proxy.listen)
        # 204,800 bytes at 100 KB/s: about 2 s.
        assert 1.0 <= took < 8, "bandwidth 100 KB/s, 200 KiB took %.2f s" % took
        proxy.destroy_toxic("bandwidth_downstream")
        assert fetch(proxy.listen) < 1
    finally:
        proxy.destroy()


def test_a_timeout_toxic_stops_the_data_then_closes_the_connection(proxy):
    proxy.add_toxic(type="timeout", attributes={"timeout": 500})
    with connect(proxy.listen) as conn:
        start = time.monotonic()
        conn.sendall(b"ping")
        assert_dropped(conn)
        took = time.monotonic() - start
        assert 0.4 <= took < 5, "timeout 500 ms, closed after %.3f s" % took


def test_a_timeout_toxic_of_zero_holds_the_connection_without_data(proxy):
    proxy.add_toxic(type="timeout", name="hold", attributes={"timeout": 0})
    with connect(proxy.listen) as conn:
        conn.settimeout(1)
        conn.sendall(b"ping")
        with pytest.raises(socket.timeout):
            data = conn.recv(16)
            pytest.fail("data or a close came through a held connection: %r" % data)


def test_a_proxy_taken_down_refuses_new_connections_and_drops_open_ones(proxy):
    with connect(proxy.listen) as conn:
        round_trip(conn)
        with proxy.down():
            with pytest.raises(ConnectionRefusedError):
                connect(proxy.listen).close()
            assert_dropped(conn)
    with connect(proxy.listen) as conn:
        round_trip(conn)


def test_reset_removes_every_toxic_and_enables_every_proxy(client, proxy):
    proxy.add_toxic(type="latency", attributes={"latency": 1000})
    proxy.disable()
    assert client.proxies()[proxy.name].enabled is False
    assert client.reset()
    assert client.proxies()[proxy.name].enabled is True
    assert proxy.toxics() == {}
    with connect(proxy.listen) as conn:
        assert round_trip(conn) < 0.25


def test_refusals_come_back_as_the_client_s_exceptions(proxy):
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="no_such")
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="latency", toxicity=2)
    proxy.add_toxic(type="latency", attributes={"latency": 1})
    with pytest.raises(ProxyExists):
        proxy.add_toxic(type="latency", attributes={"latency": 2})
    with pytest.raises(NotFound):
        APIConsumer.get("/proxies/no_such_proxy")
    with pytest.raises(NotFound):
        proxy.destroy_toxic("no_such_toxic")


def test_a_destroyed_proxy_is_gone_and_its_port_closed(client, echo):
    proxy = client.create(upstream=echo, name="destroyed", listen="127.0.0.1:0")
    assert proxy.destroy()
    assert client.get_proxy("destroyed") is None
    with pytest.raises(ConnectionRefusedError):
        connect(proxy.listen).close()


def test_populate_creates_what_is_missing_and_replaces_what_changed(client, echo, web):
    first = client.populate([{"name": "pop", "upstream": echo, "listen": "127.0.0.1:0"}])
    assert [p.name for p in first] == ["pop"]
    listen = first[0].listen
    again = client.populate([{"name": "pop", "upstream": echo, "listen": listen}])
    assert again == [], "an unchanged proxy was created again"
    moved = client.populate([{"name": "pop", "upstream": web, "listen": listen}])
    assert [p.upstream for p in moved] == [web]
    assert fetch(listen) < LIMIT
    assert client.get_proxy("pop").destroy()


# --- Every toxic on real traffic, upstream and downstream, as Toxiproxy behaves ------------
#
# Lower bounds are strict (a toxic never acts less than Toxiproxy's does); upper bounds leave
# room for a loaded machine. The precise figures (latency overshoot, achieved rate) are the
# proxy benchmark's.

STREAMS = ["upstream", "downstream"]


def toxic_on(proxy, stream, kind, **attributes):
    proxy.add_toxic(type=kind, stream=stream, attributes=attributes)
    return "%s_%s" % (kind, stream)


def update_toxic(proxy, name, **attributes):
    """Toxiproxy 2.x's update: POST the new attributes to the toxic."""
    APIConsumer.post(
        "/proxies/%s/toxics/%s" % (proxy.name, name), json={"attributes": attributes}
    )


def read_exactly(conn, size):
    """Reads `size` bytes; the pieces as `recv` returned them."""
    pieces = []
    while sum(map(len, pieces)) < size:
        chunk = conn.recv(65536)
        assert chunk, "the connection closed after %d of %d bytes" % (sum(map(len, pieces)), size)
        pieces.append(chunk)
    return pieces


@pytest.mark.parametrize("stream", STREAMS)
def test_latency_delays_each_round_trip_by_its_amount_on_either_stream(proxy, stream):
    toxic_on(proxy, stream, "latency", latency=100)
    with connect(proxy.listen) as conn:
        for _ in range(5):
            took = round_trip(conn)
            assert 0.1 <= took < 0.5, "latency 100 ms on %s: %.4f s" % (stream, took)


@pytest.mark.parametrize("stream", STREAMS)
def test_jitter_spreads_the_latency_uniformly_around_it(proxy, stream):
    toxic_on(proxy, stream, "latency", latency=60, jitter=30)
    with connect(proxy.listen) as conn:
        samples = sorted(round_trip(conn) for _ in range(40))
    # Toxiproxy: latency + uniform(-jitter, +jitter), whole milliseconds.
    assert samples[0] >= 0.029, samples
    assert samples[-1] < 0.5, samples
    spread = samples[30] - samples[10]
    assert spread > 0.01, "jitter 30 ms, yet the middle half spans %.4f s" % spread


@pytest.mark.parametrize("stream", STREAMS)
def test_bandwidth_paces_from_the_first_byte_and_a_new_rate_reaches_open_connections(proxy, stream):
    name = toxic_on(proxy, stream, "bandwidth", rate=100)  # KB/s
    with connect(proxy.listen) as conn:
        # 50 KB at 100 KB/s: about 0.5 s, never faster.
        took = round_trip(conn, os.urandom(50_000))
        assert 0.49 <= took < 2.5, "50 KB at 100 KB/s on %s took %.3f s" % (stream, took)
        # A new rate on the open connection: 100 KB at 400 KB/s, about 0.25 s.
        update_toxic(proxy, name, rate=400)
        took = round_trip(conn, os.urandom(100_000))
        assert 0.24 <= took < 1.5, "100 KB at 400 KB/s on %s took %.3f s" % (stream, took)


@pytest.mark.parametrize("stream", STREAMS)
def test_slicer_cuts_the_bytes_in_small_delayed_pieces(proxy, stream):
    toxic_on(proxy, stream, "slicer", average_size=100, size_variation=0, delay=20_000)  # µs
    with connect(proxy.listen) as conn:
        start = time.monotonic()
        conn.sendall(os.urandom(1_000))
        pieces = read_exactly(conn, 1_000)
        took = time.monotonic() - start
    # Ten pieces of 100 bytes, 20 ms apart.
    assert max(map(len, pieces)) <= 100, [len(p) for p in pieces]
    assert 0.18 <= took < 3, "1,000 bytes in 100-byte slices 20 ms apart on %s: %.3f s" % (stream, took)


class Sink(socketserver.BaseRequestHandler):
    """Echoes, and keeps how many bytes each connection brought."""

    received = []

    def handle(self):
        count = 0
        while True:
            try:
                data = self.request.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            count += len(data)
            try:
                self.request.sendall(data)
            except OSError:
                break
        Sink.received.append(count)


@pytest.fixture(scope="module")
def sink():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Sink)
    yield serve_in_background(server)
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("stream", STREAMS)
def test_limit_data_closes_the_connection_after_its_bytes(client, sink, stream):
    proxy = client.create(upstream=sink, name="limit_" + stream, listen="127.0.0.1:0")
    try:
        toxic_on(proxy, stream, "limit_data", bytes=1_000)
        Sink.received.clear()
        with connect(proxy.listen) as conn:
            conn.sendall(os.urandom(3_000))
            got = b""
            while True:
                try:
                    chunk = conn.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                got += chunk
        deadline = time.monotonic() + LIMIT
        while not Sink.received and time.monotonic() < deadline:
            time.sleep(0.01)
        if stream == "downstream":
            # The client gets exactly the limit, then the close.
            assert len(got) == 1_000, "limit_data 1000 downstream let %d bytes through" % len(got)
        else:
            # The upstream gets exactly the limit; the whole connection closes (as in
            # Toxiproxy, its answer to those bytes may not come back).
            assert Sink.received == [1_000], Sink.received
            assert len(got) <= 1_000
    finally:
        proxy.destroy()


@pytest.mark.parametrize("stream", STREAMS)
def test_slow_close_delays_the_close_by_its_delay(proxy, stream):
    toxic_on(proxy, stream, "slow_close", delay=400)
    with connect(proxy.listen) as conn:
        round_trip(conn)
        start = time.monotonic()
        conn.shutdown(socket.SHUT_WR)
        # The echo server closes when it sees the end; the close comes back delayed on either
        # leg.
        assert conn.recv(16) == b""
        took = time.monotonic() - start
    assert 0.4 <= took < 3, "slow_close 400 ms on %s: closed after %.3f s" % (stream, took)


@pytest.mark.parametrize("stream", STREAMS)
def test_timeout_closes_after_its_time_and_zero_holds_forever(proxy, stream):
    name = toxic_on(proxy, stream, "timeout", timeout=300)
    with connect(proxy.listen) as conn:
        start = time.monotonic()
        conn.sendall(b"ping")
        assert_dropped(conn)
        took = time.monotonic() - start
        assert 0.29 <= took < 3, "timeout 300 ms on %s: closed after %.3f s" % (stream, took)
    proxy.destroy_toxic(name)
    toxic_on(proxy, stream, "timeout", timeout=0)
    with connect(proxy.listen) as conn:
        conn.settimeout(1)
        conn.sendall(b"ping")
        with pytest.raises(socket.timeout):
            data = conn.recv(16)
            pytest.fail("data or a close came through a held connection: %r" % data)


@pytest.mark.parametrize("stream", STREAMS)
def test_reset_peer_resets_the_connection_after_its_timeout(proxy, stream):
    toxic_on(proxy, stream, "reset_peer", timeout=300)
    with connect(proxy.listen) as conn:
        start = time.monotonic()
        with pytest.raises(ConnectionResetError):
            while True:
                conn.sendall(b"ping")
                conn.recv(16)
                time.sleep(0.02)
        took = time.monotonic() - start
    assert 0.29 <= took < 3, "reset_peer 300 ms on %s: reset after %.3f s" % (stream, took)


def test_toxicity_is_drawn_once_per_connection(proxy):
    proxy.add_toxic(type="latency", toxicity=0.5, attributes={"latency": 200})
    slow = 0
    for _ in range(40):
        with connect(proxy.listen) as conn:
            first = round_trip(conn) >= 0.2
            # The same connection keeps its draw.
            assert (round_trip(conn) >= 0.2) == first
            slow += first
    # Binomial(40, 0.5): 20 ± 3.2; 4 standard deviations either way.
    assert 7 <= slow <= 33, "toxicity 0.5: %d of 40 connections slowed" % slow


def test_a_toxic_updated_on_an_open_connection_acts_on_its_next_bytes(proxy):
    proxy.add_toxic(type="latency", attributes={"latency": 50})
    with connect(proxy.listen) as conn:
        assert 0.05 <= round_trip(conn) < 0.5
        update_toxic(proxy, "latency_downstream", latency=400)
        assert 0.4 <= round_trip(conn) < 3
        update_toxic(proxy, "latency_downstream", latency=0)
        assert round_trip(conn) < 0.3
