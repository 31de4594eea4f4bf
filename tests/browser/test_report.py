"""`chaosday report` in a real headless Chromium: a game played through the API, its HTML
report made during the game and after it, opened from the file, screenshotted (kept in
test-artifacts/screenshots as report-*.png, with the page printed to report.pdf), with
every chart's text drawn inside its chart, no script, and nothing loaded from elsewhere.

Run by ./scripts/test; see conftest.py for what it needs.
"""

import os
import subprocess

from conftest import CHECKOUT, SCREENSHOTS, SEARCH, LIMIT, binary, screenshot


def report(game, *args):
    """Runs `chaosday report ARGS` on the game's state directory (its default store)."""
    env = dict(os.environ, CHAOSDAY_STATE_DIR=str(game.tmp / "state"), TZ="UTC")
    env.pop("CHAOSDAY_STORE", None)
    done = subprocess.run(
        [str(binary()), "report", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=LIMIT * 4,
    )
    assert done.returncode == 0, f"chaosday report {args}: {done.stderr}"
    return done.stdout


def play(game):
    """Two incidents played to the end (a wrong diagnosis, a hint, a pause, an adjustment),
    and a third that nobody detects."""
    game.gm("/game/start")
    game.gm("/unleash", scenario="web-slow", team="checkout")
    web = game.team(CHECKOUT, "/declare", target="web-link")["incident"]["id"]
    game.team(CHECKOUT, f"/incidents/{web}/hints", hint=0)
    game.team(CHECKOUT, f"/incidents/{web}/diagnose", target="web", kind="pause")
    game.team(CHECKOUT, f"/incidents/{web}/diagnose", target="web-link", kind="latency")
    game.gm("/unleash", scenario="search-cut", team="search")
    search = game.team(SEARCH, "/declare", target="search-link")["incident"]["id"]
    game.gm("/game/pause", reason="coffee")
    game.gm("/game/resume")
    game.team(SEARCH, f"/incidents/{search}/diagnose", target="search-link", kind="down")
    game.gm("/adjust", team="checkout", points=5, reason="tidy <b>notes</b>, thanks")
    game.gm("/unleash", scenario="secret-slowness", team="search")
    return web, search, game.number("secret-slowness")


def open_report(open_page, path, requests):
    page = open_page(1280, 900)
    page.on("request", lambda request: requests.append(request.url))
    page.goto(path.as_uri())
    return page


# Every <text> of every chart: where it is drawn on the page, and where its chart is.
TEXT_BOXES = """() => [...document.querySelectorAll('.chart svg')].map(svg => {
  const box = svg.getBoundingClientRect();
  return {
    chart: svg.getAttribute('aria-label'),
    box: {x: box.left, y: box.top, right: box.right, bottom: box.bottom},
    texts: [...svg.querySelectorAll('text')].map(t => {
      const b = t.getBoundingClientRect();
      return {text: t.textContent, x: b.left, y: b.top, right: b.right, bottom: b.bottom};
    }),
  };
})"""


def check_charts(page):
    charts = page.evaluate(TEXT_BOXES)
    assert [c["chart"] for c in charts] == [
        "Score over time, per team",
        "Incidents over time, per team",
        "Time to detect and to resolve (medians), per team",
        "Time to detect and to resolve (medians), per scenario",
    ]
    for chart in charts:
        assert chart["texts"], f"{chart['chart']} has no text"
        box = chart["box"]
        for t in chart["texts"]:
            inside = (
                t["x"] >= box["x"] - 0.5
                and t["y"] >= box["y"] - 0.5
                and t["right"] <= box["right"] + 0.5
                and t["bottom"] <= box["bottom"] + 0.5
            )
            assert inside, f"{chart['chart']}: {t['text']!r} is drawn outside the chart: {t}, {box}"
    for svg in page.query_selector_all(".chart svg"):
        box = svg.bounding_box()
        assert box["width"] > 600 and box["height"] > 100, box


def test_the_html_report_of_a_played_game_during_and_after_it(game, open_page):
    web, search, secret = play(game)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    # During the game: the game master's view (the CLI reads the whole log).
    running = SCREENSHOTS / "report-running.html"
    report(game, "--out", str(running))
    requests = []
    page = open_report(open_page, running, requests)
    assert "running" in page.inner_text("header.top .badge")
    assert "secret-slowness" in page.inner_text("#incidents")
    check_charts(page)
    page.screenshot(path=str(SCREENSHOTS / "report-running.png"), full_page=True)

    # After it.
    game.gm("/game/end")
    ended = SCREENSHOTS / "report.html"
    report(game, "--format", "html", "--out", str(ended))
    requests = []
    page = open_report(open_page, ended, requests)
    assert page.title() == "Postmortem: browser-day"
    assert "ended" in page.inner_text("header.top .badge")
    board = page.inner_text("#scoreboard")
    assert "checkout" in board and "search" in board
    incidents = page.inner_text("#incidents")
    for name in [f"#{web} web-slow", f"#{search} search-cut", f"#{secret} secret-slowness"]:
        assert name in incidents, incidents
    timeline = page.inner_text("#timeline")
    for step in [f"wrong diagnosis of #{web}", f"right diagnosis of #{search}", "the game paused: coffee", f"bought hint 1 of #{web}"]:
        assert step in timeline, timeline
    # A reason is text, never markup.
    assert "tidy <b>notes</b>, thanks" in timeline
    assert page.locator("#timeline b:has-text('notes')").count() == 0
    # A postmortem draft per incident, with its sections and notes to fill in.
    assert page.locator("article.pm").count() == 3
    assert page.locator("article.pm").nth(0).locator(".notes").count() == 5
    assert "wrong diagnosis before the right one" in page.inner_text(f"#incident-{web}")
    assert "cancelled before anyone saw it" in page.inner_text(f"#incident-{secret}")
    # Self-contained: no script, nothing but the file itself loaded.
    assert page.locator("script").count() == 0
    assert requests == [ended.as_uri()], requests
    check_charts(page)

    page.screenshot(path=str(SCREENSHOTS / "report.png"), full_page=True)
    for n, svg in enumerate(page.query_selector_all(".chart svg")):
        svg.screenshot(path=str(SCREENSHOTS / f"report-chart-{n + 1}.png"))
    screenshot(page, "report-top")
    # Printable: print media fits the tables on an A4 page, and the print has pages.
    page.emulate_media(media="print")
    pdf = page.pdf(path=str(SCREENSHOTS / "report.pdf"), format="A4", print_background=True)
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
    narrow = open_page(703, 1000)
    narrow.emulate_media(media="print")
    narrow.goto(ended.as_uri())
    for table in narrow.query_selector_all("table"):
        assert table.bounding_box()["width"] <= 703 + 1, "a table is wider than an A4 page"
    narrow.screenshot(path=str(SCREENSHOTS / "report-print.png"), full_page=True)
