"""chaosday run against Chaos Toolkit's own `chaos run` (chaostoolkit and chaostoolkit-lib
from PyPI, pinned in requirements.txt): each experiment of experiments/ runs under both tools,
against the same small HTTP server, and must end with the same exit code, status and deviation,
the same activities run with the same statuses, and a journal of the same shape. chaoslib's
own validation reads the experiment chaosday carries back in its journal, and Chaos Toolkit's
report generator (chaostoolkit-reporting, what `chaos report` runs) renders chaosday's journal
as it renders its own.

CHAOSDAY_BIN names the chaosday binary; the `chaos` CLI is taken from this virtualenv.
"""

import copy
import datetime
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

HERE = Path(__file__).parent
EXPERIMENTS = sorted(p.name for p in (HERE / "experiments").iterdir())
CHAOS = str(Path(sys.executable).parent / "chaos")
TOKEN = "s3cret-token"


class Shop(BaseHTTPRequestHandler):
    """A service the experiments probe: /health (503 once broken), /status.json, /private
    (200 with the bearer token, else 401); POST /break and /repair."""

    broken = False

    def log_message(self, *args):
        pass

    def answer(self, status, body, content_type="text/plain"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            if Shop.broken:
                self.answer(503, "down")
            else:
                self.answer(200, "up and running")
        elif self.path == "/status.json":
            body = {"state": "green", "items": [{"ok": True}, {"ok": True}]}
            self.answer(200, json.dumps(body), "application/json")
        elif self.path == "/private":
            if self.headers.get("Authorization") == f"Bearer {TOKEN}":
                self.answer(200, "welcome")
            else:
                self.answer(401, "who are you?")
        else:
            self.answer(404, "no such page")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if self.path == "/break":
            Shop.broken = True
            self.answer(200, "broken")
        elif self.path == "/repair":
            Shop.broken = False
            self.answer(200, "repaired")
        else:
            self.answer(404, "no such page")


@pytest.fixture(scope="session")
def shop():
    # Port 0, and the server keeps its socket for the whole session: no bind-and-release.
    server = ThreadingHTTPServer(("127.0.0.1", 0), Shop)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def chaosday_bin():
    binary = os.environ.get("CHAOSDAY_BIN")
    if not binary:
        pytest.fail("CHAOSDAY_BIN is not set: ./scripts/test sets it to the chaosday binary")
    return binary


def environment(shop, tmp_path):
    env = dict(os.environ)
    env.update(
        {
            "CTK_BASE_URL": shop,
            "CTK_TOKEN": TOKEN,
            "CTK_EXPECTED_STATUS": "200",
            "CHAOSDAY_STATE_DIR": str(tmp_path / "state"),
        }
    )
    env.pop("CTK_UNSET_GREETING", None)
    return env


def run_tool(argv, cwd, env):
    Shop.broken = False
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    return done


def run_both(name, shop, chaosday_bin, tmp_path, extra=()):
    experiment = str(HERE / "experiments" / name)
    tmp_path.mkdir(parents=True, exist_ok=True)
    env = environment(shop, tmp_path)
    ctk_journal = tmp_path / "ctk-journal.json"
    cd_journal = tmp_path / "chaosday-journal.json"
    ctk = run_tool(
        [CHAOS, "--log-file", str(tmp_path / "chaos.log"), "run", "--journal-path", str(ctk_journal), *extra, experiment],
        tmp_path,
        env,
    )
    cd = run_tool(
        [chaosday_bin, "run", "--journal-path", str(cd_journal), *extra, experiment],
        tmp_path,
        env,
    )
    assert ctk_journal.exists(), f"chaos wrote no journal:\n{ctk.stdout}\n{ctk.stderr}"
    assert cd_journal.exists(), f"chaosday wrote no journal:\n{cd.stdout}\n{cd.stderr}"
    return ctk, json.loads(ctk_journal.read_text()), cd, json.loads(cd_journal.read_text())


def summary(journal):
    """What must be the same under both tools."""

    def runs(items):
        return [(r["activity"]["name"], r["status"], r.get("tolerance_met")) for r in items or []]

    def state(s):
        return None if s is None else (s["steady_state_met"], runs(s["probes"]))

    return {
        "status": journal["status"],
        "deviated": journal["deviated"],
        "before": state(journal["steady_states"]["before"]),
        "after": state(journal["steady_states"]["after"]),
        "run": runs(journal["run"]),
        "rollbacks": runs(journal["rollbacks"]),
    }


def check_shape(ctk_journal, cd_journal):
    """chaosday's journal has every key Chaos Toolkit's has, in the same types, down to
    each activity's run."""
    missing = set(ctk_journal) - set(cd_journal) - {"chaoslib-version"}
    assert not missing, f"keys missing from chaosday's journal: {missing}"
    assert set(cd_journal["steady_states"]) == {"before", "after", "during"}
    for key in ("start", "end"):
        datetime.datetime.fromisoformat(cd_journal[key])
    assert isinstance(cd_journal["duration"], float)

    def each_run(journal):
        for state in (journal["steady_states"]["before"], journal["steady_states"]["after"]):
            if state:
                yield from state["probes"]
        yield from journal["run"]
        yield from journal["rollbacks"]

    for ctk_run, cd_run in zip(each_run(ctk_journal), each_run(cd_journal)):
        assert set(ctk_run) == set(cd_run), (ctk_run, cd_run)
        assert cd_run["activity"] == ctk_run["activity"]
        for key in ("start", "end"):
            datetime.datetime.fromisoformat(cd_run[key])
        assert isinstance(cd_run["duration"], float)
        if cd_run["status"] == "failed":
            assert isinstance(cd_run["exception"], list) and cd_run["exception"]
        # An output of the same shape: {status, headers, body} or {status, stdout, stderr}.
        if isinstance(ctk_run["output"], dict):
            assert set(cd_run["output"]) == set(ctk_run["output"])
            assert cd_run["output"]["status"] == ctk_run["output"]["status"]


def check_chaoslib_reads(cd_journal):
    """chaoslib's own validation accepts the experiment in chaosday's journal (with the
    environment the run had), as Chaos Toolkit's tooling reads it back."""
    from chaoslib.experiment import ensure_experiment_is_valid

    experiment = dict(cd_journal["experiment"])
    ensure_experiment_is_valid(experiment)


def check_report_renders(ctk_journal, cd_journal):
    """chaostoolkit-reporting's `generate_report` (the body of `chaos report`) renders
    chaosday's journal, with its status and every activity, as it renders Chaos Toolkit's."""
    from chaosreport import generate_report

    ours = generate_report(copy.deepcopy(cd_journal), "markdown")
    theirs = generate_report(copy.deepcopy(ctk_journal), "markdown")
    assert f"| {cd_journal['status']}" in ours, ours[:2000]
    assert cd_journal["experiment"]["title"] in ours
    for run in cd_journal["run"]:
        assert run["activity"]["name"] in ours, run["activity"]["name"]
    # The same sections, in the same order.
    headings = lambda text: [line for line in text.splitlines() if line.startswith("#")]
    assert headings(ours) == headings(theirs)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_same_outcome_as_chaos_toolkit(name, shop, chaosday_bin, tmp_path, monkeypatch):
    ctk, ctk_journal, cd, cd_journal = run_both(name, shop, chaosday_bin, tmp_path)
    context = f"chaos:\n{ctk.stderr[-3000:]}\nchaosday:\n{cd.stdout}\n{cd.stderr}"
    assert cd.returncode == ctk.returncode, context
    assert summary(cd_journal) == summary(ctk_journal), context
    check_shape(ctk_journal, cd_journal)
    for key, value in environment(shop, tmp_path).items():
        monkeypatch.setenv(key, value)
    check_chaoslib_reads(cd_journal)
    check_report_renders(ctk_journal, cd_journal)


def test_the_comparison_covers_each_outcome(shop, chaosday_bin, tmp_path):
    """The experiments are not all alike: between them, a run that holds, one that deviates,
    one that fails, a failing action with rollbacks, and both exit codes."""
    outcomes = set()
    for name in EXPERIMENTS:
        ctk, journal, _, _ = run_both(name, shop, chaosday_bin, tmp_path / name)
        failed_actions = [r for r in journal["run"] if r["status"] == "failed"]
        outcomes.add((journal["status"], journal["deviated"], ctk.returncode))
        if failed_actions and journal["rollbacks"]:
            outcomes.add("failing action with rollbacks")
    assert ("completed", False, 0) in outcomes
    assert ("completed", True, 1) in outcomes
    assert ("failed", False, 1) in outcomes
    assert "failing action with rollbacks" in outcomes


@pytest.mark.parametrize("strategy", ["always", "never", "deviated"])
def test_rollback_strategies_as_chaos_toolkit(strategy, shop, chaosday_bin, tmp_path):
    for name in ("deviates.yaml", "failing-probe.json", "holds.json"):
        ctk, ctk_journal, cd, cd_journal = run_both(
            name, shop, chaosday_bin, tmp_path / name, extra=("--rollback-strategy", strategy)
        )
        assert cd.returncode == ctk.returncode, (name, cd.stderr)
        assert summary(cd_journal) == summary(ctk_journal), name


def test_validate_agrees_with_chaos_validate(shop, chaosday_bin, tmp_path):
    env = environment(shop, tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "title": "t",
                "description": "d",
                "method": [{"type": "action", "name": "a", "provider": {"type": "http"}}],
            }
        )
    )
    for path, valid in [(HERE / "experiments" / "holds.json", True), (bad, False)]:
        ctk = subprocess.run(
            [CHAOS, "--log-file", str(tmp_path / "chaos.log"), "validate", str(path)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
        )
        cd = subprocess.run(
            [chaosday_bin, "validate", str(path)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
        )
        assert (ctk.returncode == 0) == valid, ctk.stderr
        assert (cd.returncode == 0) == valid, cd.stdout + cd.stderr
    assert "method[0].provider.url" in cd.stdout, cd.stdout
