"""The browser tests' fixtures: a real `chaosday serve` over real services, and Debian's
Chromium driven by Python playwright.

Each test gets its own game: two small HTTP services (`python -m http.server`, started by
chaosday as supervised targets), each behind a proxied link, on free loopback ports, with
its own state directory. The server's binary is CHAOSDAY_BIN (./scripts/test sets it),
else the debug build under CARGO_TARGET_DIR or ./target.

Chromium is /usr/bin/chromium (CHAOSDAY_CHROMIUM may name another), launched headless by
playwright with the flags of STACK.md; `playwright install` is never run. Without Chromium
or playwright the tests fail under CI=true and are skipped, with a notice, elsewhere.
"""

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHAOSDAY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
GM = "gm-token-0123456789abcdef-browser"
CHECKOUT = "checkout-token-0123456789-browser"
SEARCH = "search-token-0123456789ab-browser"
# The bound on every wait, in seconds.
LIMIT = 15
SCREENSHOTS = Path(os.environ.get("CHAOSDAY_SCREENSHOTS", ROOT / "test-artifacts" / "screenshots"))


def missing(what):
    """Fails under CI (a missing tool must not pass silently); skips elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what}; CI runs the browser tests, so this is an error", pytrace=False)
    pytest.skip(f"{what}: the browser tests are SKIPPED")


def binary():
    if os.environ.get("CHAOSDAY_BIN"):
        return Path(os.environ["CHAOSDAY_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return target / "debug" / "chaosday"


def owned_port():
    """A loopback port this test process owns, for a child that binds it itself.

    It is below the kernel's ephemeral range (32768-60999): a port bound to 0 and released
    may go to any outgoing connection before the child binds it ("Address already in use"
    under load). Each process starts at an offset derived from its pid, never hands out a
    port twice, and skips ports held right now.
    """
    while True:
        offset = next(_OWNED)
        assert offset < _SPAN, "this test process used up its ports"
        port = 20000 + (os.getpid() * 2654435761 + offset) % _SPAN
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


_SPAN = 12000
_OWNED = itertools.count()


def service_argv(port):
    # The interpreter by its real path: chaosday matches processes by their command line,
    # and a pyenv shim execs another program.
    return [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]


def pids_of(argv):
    """The processes whose command line is exactly `argv`."""
    want = "\0".join(argv) + "\0"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "cmdline").read_bytes().decode(errors="replace") == want:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def http_ok(url, timeout=1.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return 200 <= answer.status < 300
    except (OSError, urllib.error.URLError):
        return False


def wait_for(check, what, limit=LIMIT):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {limit}s waiting for {what}")


GAME = """\
game: browser-day
game_master: {{ token_env: GM_TOKEN }}
schedule: {{ every: 1h, max_open_per_team: 3 }}
teams:
  - {{ name: checkout, token_env: CHECKOUT_TOKEN, owns: [web, web-link], repair_url: "http://127.0.0.1:{web_link}/ops" }}
  - {{ name: search, token_env: SEARCH_TOKEN, owns: [search, search-link] }}
targets:
  web: {{ process: {{ command: {web}, supervised: true }} }}
  web-link: {{ link: {{ listen: "127.0.0.1:{web_link}", upstream: "127.0.0.1:{web_port}" }} }}
  search: {{ process: {{ command: {search}, supervised: true }} }}
  search-link: {{ link: {{ listen: "127.0.0.1:{search_link}", upstream: "127.0.0.1:{search_port}" }} }}
probes:
  web-up: {{ http: {{ url: "http://127.0.0.1:{web_link}/", timeout: 500ms }} }}
  search-up: {{ http: {{ url: "http://127.0.0.1:{search_link}/", timeout: 500ms }} }}
scenarios:
  - name: web-stuck
    difficulty: 2
    faults: [ {{ target: web, fault: {{ kind: pause }} }} ]
    diagnosis: {{ target: web, kind: pause }}
    resolution: fix
    verification: 1s
    probes: [web-up]
    hints:
      - {{ text: "The process is there, but is it running?", cost: 20 }}
      - {{ text: "Look at its state in ps: T means stopped", cost: 40 }}
  - name: web-slow
    faults: [ {{ target: web-link, fault: {{ kind: latency, latency: 300ms }} }} ]
    diagnosis: {{ target: web-link, kind: latency }}
    resolution: diagnose
    hints: [ {{ text: "Time the requests through the link", cost: 25 }} ]
  - name: web-cut
    faults: [ {{ target: web-link, fault: {{ kind: down }} }} ]
    diagnosis: {{ target: web-link, kind: down }}
    resolution: diagnose
  - name: search-cut
    difficulty: 3
    faults: [ {{ target: search-link, fault: {{ kind: down }} }} ]
    diagnosis: {{ target: search-link, kind: down }}
    resolution: diagnose
    hints: [ {{ text: "Can you connect to it at all?", cost: 30 }} ]
  - name: secret-slowness
    faults: [ {{ target: search-link, fault: {{ kind: latency, latency: 50ms }} }} ]
    diagnosis: {{ target: search-link, kind: latency }}
    resolution: diagnose
  - name: unplugged-cable
    difficulty: 4
    diagnosis: {{ target: search-link, kind: down }}
    resolution: manual
"""


class Game:
    """A running `chaosday serve` and its services."""

    def __init__(self, tmp):
        self.tmp = Path(tmp)
        self.port = owned_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.web = service_argv(owned_port())
        self.search = service_argv(owned_port())
        self.web_link = owned_port()
        self.search_link = owned_port()
        (self.tmp / "game.yaml").write_text(
            GAME.format(
                web=json.dumps(self.web),
                search=json.dumps(self.search),
                web_link=self.web_link,
                web_port=self.web[3],
                search_link=self.search_link,
                search_port=self.search[3],
            )
        )
        self.log = open(self.tmp / "server.log", "ab")
        env = dict(
            os.environ,
            GM_TOKEN=GM,
            CHECKOUT_TOKEN=CHECKOUT,
            SEARCH_TOKEN=SEARCH,
            CHAOSDAY_STATE_DIR=str(self.tmp / "state"),
            RUST_LOG="chaosday=info",
        )
        env.pop("CHAOSDAY_OUTPUT", None)
        self.process = subprocess.Popen(
            [
                str(binary()),
                "serve",
                str(self.tmp / "game.yaml"),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--probe-every",
                "200ms",
                "--rate-limit",
                "0",
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        deadline = time.monotonic() + 30
        while not http_ok(self.url + "/api/v1/game"):
            if self.process.poll() is not None:
                raise AssertionError("chaosday serve exited at start:\n" + self.logs())
            if time.monotonic() > deadline:
                raise AssertionError("chaosday serve did not answer in 30 s:\n" + self.logs())
            time.sleep(0.05)
        wait_for(lambda: http_ok(self.link_url("web")), "the web service, supervised")
        wait_for(lambda: http_ok(self.link_url("search")), "the search service, supervised")

    def logs(self):
        self.log.flush()
        return (self.tmp / "server.log").read_text(errors="replace")[-6000:]

    def link_url(self, service):
        port = self.web_link if service == "web" else self.search_link
        return f"http://127.0.0.1:{port}/"

    def api(self, method, path, token=None, body=None):
        """One API request: (status, JSON answer)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + "/api/v1" + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(request, timeout=LIMIT) as answer:
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def gm(self, path, **body):
        status, answer = self.api("POST", path, GM, dict(body, player="gm-script"))
        assert status == 200, f"POST {path}: {status} {answer}"
        return answer

    def team(self, token, path, **body):
        status, answer = self.api("POST", path, token, dict(body, player="bot"))
        assert status == 200, f"POST {path}: {status} {answer}"
        return answer

    def incidents(self):
        status, answer = self.api("GET", "/incidents", GM)
        assert status == 200, answer
        return answer

    def number(self, scenario):
        """The number of the last incident of `scenario` (numbers are drawn at random)."""
        found = [i["id"] for i in self.incidents() if i["scenario"] == scenario]
        assert found, f"no incident of {scenario}"
        return found[-1]

    def faults(self):
        status, answer = self.api("GET", "/faults", GM)
        assert status == 200, answer
        return answer

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=LIMIT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        # Supervised services live in sessions of their own: stop what is left of ours.
        for argv in (self.web, self.search):
            for pid in pids_of(argv):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.log.close()


@pytest.fixture
def game():
    if not binary().is_file():
        pytest.fail(f"no chaosday binary at {binary()}: run `cargo build -p chaosday`, or set CHAOSDAY_BIN")
    with tempfile.TemporaryDirectory(prefix="chaosday-browser-") as tmp:
        running = Game(tmp)
        try:
            yield running
        finally:
            running.stop()


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed (pip install -r tests/browser/requirements.txt)")
    if not os.access(CHROMIUM, os.X_OK):
        missing(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser):
    """Opens pages, each in a context of its own (its own cookies), at a given size."""
    contexts = []

    def open_page(width=1366, height=768):
        context = browser.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(LIMIT * 1000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def sign_in(page, game, token, player):
    """Signs in on the login page; returns the page where it lands."""
    page.goto(game.url + "/login")
    page.fill("input[name=token]", token)
    page.fill("input[name=player]", player)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_load_state()
    return page


def screenshot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
