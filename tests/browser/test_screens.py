"""The screens of issue 14 in a real headless Chromium: red banners for losses and green for
gains (their computed colours), the team's incident card (a countdown that ticks and stands
still during a pause, the target the team declared, the diagnosis form keeping its last
choice, the link to where the team repairs), banners without the CLI's backticks, the
scoreboard's kiosk mode filling a 1920x1080 screen without a top bar, and the report at
/report in the UI's frame with its incidents table fitting its column.

Run by ./scripts/test; see conftest.py for what it needs.
"""

import re

from conftest import CHECKOUT, SEARCH, screenshot, sign_in, wait_for

COUNTDOWN = re.compile(r"^\d+:\d\d(:\d\d)?$")


def rgb(page, selector, prop="background-color"):
    """The computed colour of `prop` of the first `selector`, as (r, g, b)."""
    value = page.eval_on_selector(selector, f"el => getComputedStyle(el).getPropertyValue('{prop}')")
    found = re.match(r"rgba?\((\d+), (\d+), (\d+)", value)
    assert found, f"{selector} {prop}: {value}"
    return tuple(int(n) for n in found.groups())


def seconds(text):
    parts = [int(p) for p in text.split(":")]
    total = 0
    for part in parts:
        total = total * 60 + part
    return total


def test_a_loss_shows_a_red_banner_and_a_gain_a_green_one(game, open_page):
    game.gm("/game/start")
    game.gm("/unleash", scenario="web-slow", team="checkout")
    team = sign_in(open_page(), game, CHECKOUT, "ada")

    # `web` is not where the fault is (web-link): a false alarm, points lost.
    team.select_option("#declare select[name=target]", "web")
    team.click("#declare button[type=submit]")
    assert "false alarm" in team.inner_text("#flash")
    assert team.get_attribute("#flash", "class").split() == ["flash", "flash-error"]
    r, g, b = rgb(team, "#flash")
    assert r > g + 10 and r > b, f"a loss's banner is red, not rgb{(r, g, b)}"
    r, g, b = rgb(team, "#flash", "border-top-color")
    assert r > 200 and g < 100, f"its border is red, not rgb{(r, g, b)}"

    # The right target: a detection, points won.
    team.select_option("#declare select[name=target]", "web-link")
    team.click("#declare button[type=submit]")
    assert "detected incident" in team.inner_text("#flash")
    r, g, b = rgb(team, "#flash")
    assert g > r + 10 and g > b, f"a gain's banner is green, not rgb{(r, g, b)}"
    r, g, b = rgb(team, "#flash", "border-top-color")
    assert g > 200 and r < 100, f"its border is green, not rgb{(r, g, b)}"


def test_the_incident_card_counts_down_keeps_the_last_diagnosis_and_links_the_ops_page(game, open_page):
    game.gm("/game/start")
    game.gm("/unleash", scenario="web-slow", team="checkout")
    team = sign_in(open_page(1366, 768), game, CHECKOUT, "ada")
    team.select_option("#declare select[name=target]", "web-link")
    team.click("#declare button[type=submit]")
    number = game.number("web-slow")
    card = f"#incident-{number}"
    team.wait_for_selector(f"{card} .badge-detected")

    # What the team declared, and where it repairs (the game file's repair_url).
    assert "You declared web-link" in " ".join(team.text_content(f"{card} .card-facts").split())
    link = team.locator(f"{card} a.repair-link")
    assert link.get_attribute("href") == game.link_url("web") + "ops"
    assert link.get_attribute("target") == "_blank"

    # The countdown ticks down, second by second, as m:ss.
    clock = f"{card} [data-countdown]"
    first = team.inner_text(clock)
    assert COUNTDOWN.match(first), first
    assert 0 < seconds(first) <= 30 * 60, "the default deadline is 30 minutes"
    team.wait_for_function(
        "([sel, first]) => { const t = document.querySelector(sel).textContent; return t !== first; }",
        arg=[clock, first],
    )
    later = team.inner_text(clock)
    assert COUNTDOWN.match(later) and seconds(later) < seconds(first), (first, later)

    # A wrong diagnosis: the form shows the choice again, and counts the tries in words.
    for n in (1, 2):
        team.select_option(f"{card} select[name=target]", "web")
        team.select_option(f"{card} select[name=kind]", "kill")
        team.click(f"{card} form[action='/team/diagnose'] button")
        team.wait_for_selector("#flash")
        left = 3 - n
        words = "1 try left" if left == 1 else f"{left} tries left"
        assert words in team.inner_text("#flash"), team.inner_text("#flash")
        assert team.eval_on_selector(f"{card} select[name=target]", "el => el.value") == "web"
        assert team.eval_on_selector(f"{card} select[name=kind]", "el => el.value") == "kill"
    assert "tries left" not in team.inner_text("#flash")

    # Paused: the countdown stands still (while the card's age goes on counting).
    game.gm("/game/pause", reason="lunch")
    team.reload()
    team.wait_for_selector(f"{clock}[data-paused]")
    assert "frozen: the game is paused" in team.text_content(f"{card} .card-facts")
    frozen = team.inner_text(clock)
    open_for = team.inner_text(f"{card} .card-meta")
    # A paused game's clocks stand still: let the page's once-a-second ticker run a few
    # times (measured on the page's own clock), then nothing has moved.
    started = team.evaluate("performance.now()")
    team.wait_for_function("t0 => performance.now() - t0 > 3000", arg=started)
    assert team.inner_text(clock) == frozen, "a paused game's countdown does not run"
    assert team.inner_text(f"{card} .card-meta") == open_for, "nor does its open-for"
    assert team.locator(f"{card} [data-age]").count() == 0, "nothing ticks while paused"

    # Resumed, live (no reload): the card is replaced and counts down again.
    game.gm("/game/resume")
    team.wait_for_selector(f"{clock}:not([data-paused])")
    team.wait_for_function(
        "([sel, frozen]) => document.querySelector(sel).textContent !== frozen",
        arg=[clock, frozen],
    )
    assert seconds(team.inner_text(clock)) < seconds(frozen)


def test_a_banner_shows_quoted_names_as_code_not_backticks(game, open_page):
    game.gm("/game/start")
    team = sign_in(open_page(), game, SEARCH, "bob")
    # A target the form does not offer (an old page, a hand-made request).
    team.eval_on_selector(
        "#declare select[name=target]",
        "el => { const o = new Option('no-such-target', 'no-such-target'); el.add(o); el.value = 'no-such-target'; }",
    )
    team.click("#declare button[type=submit]")
    text = team.inner_text("#flash")
    assert "is not a target of this game" in text, text
    assert "`" not in text, text
    assert team.inner_text("#flash code") == "no-such-target"


def test_the_kiosk_mode_fills_a_booth_screen_with_no_top_bar(game, open_page):
    game.gm("/game/start")
    game.gm("/unleash", scenario="web-slow", team="checkout")
    number = game.team(CHECKOUT, "/declare", target="web-link")["incident"]["id"]
    game.team(CHECKOUT, f"/incidents/{number}/diagnose", target="web-link", kind="latency")
    game.gm("/unleash", scenario="web-cut", team="checkout")
    game.team(CHECKOUT, "/declare", target="web-link")
    game.gm("/adjust", team="checkout", points=12345, reason="a five-digit score for the big screen")

    board = open_page(1920, 1080)
    board.goto(game.url + "/")
    assert board.get_attribute("a[href='/?kiosk=1']", "href") == "/?kiosk=1", "the board links its kiosk mode"
    assert board.locator(".topbar").count() == 1

    kiosk = open_page(1920, 1080)
    kiosk.goto(game.url + "/?kiosk=1")
    kiosk.wait_for_selector("#rows tr[data-team='checkout']")
    assert kiosk.locator(".topbar, nav, a[href='/login']").count() == 0, "no navigation, no sign-in"
    assert kiosk.locator("a[href='/?kiosk=1']").count() == 0
    grid = kiosk.locator(".wall-grid").bounding_box()
    assert grid["width"] >= 0.9 * 1920 and grid["height"] >= 0.85 * 1080, grid
    sizes = kiosk.evaluate(
        "() => ({w: document.documentElement.scrollWidth, h: document.documentElement.scrollHeight})"
    )
    assert sizes["w"] <= 1920 and sizes["h"] <= 1080, f"the kiosk scrolls: {sizes}"
    # Sizes follow the screen: larger text on a larger screen.
    font = float(kiosk.evaluate("() => parseFloat(getComputedStyle(document.body).fontSize)"))
    assert font >= 20, font
    # The panel's lower half: incidents faced and resolved per team.
    stats = " ".join(kiosk.text_content("#board-stats").split())
    status, scores = game.api("GET", "/scoreboard")
    assert status == 200, scores
    for score in scores:
        line = f"{score['team']} {score['resolved']} resolved of {score['faced']} faced"
        assert line in stats, f"{line!r} not in {stats!r}: the same figures as the API"
    assert any(score["faced"] > 0 for score in scores), scores
    # Nothing of the standings is cut off: the table fits in its panel.
    table = kiosk.locator("#rows").bounding_box()
    panel = kiosk.locator(".hiscore").bounding_box()
    assert table["x"] + table["width"] <= panel["x"] + panel["width"], (table, panel)
    stats_box = kiosk.locator("#board-stats").bounding_box()
    foot_box = kiosk.locator("#board-foot").bounding_box()
    assert stats_box["y"] + stats_box["height"] <= foot_box["y"] + 1, "the stats sit above the footer"


def test_the_report_keeps_the_top_bar_and_its_incidents_table_fits(game, open_page):
    game.gm("/game/start")
    for scenario, team, token, target in [
        ("web-slow", "checkout", CHECKOUT, "web-link"),
        ("search-cut", "search", SEARCH, "search-link"),
    ]:
        game.gm("/unleash", scenario=scenario, team=team)
        number = game.team(token, "/declare", target=target)["incident"]["id"]
        kind = "latency" if scenario == "web-slow" else "down"
        game.team(token, f"/incidents/{number}/diagnose", target=target, kind=kind)
    game.gm("/unleash", scenario="web-cut", team="checkout")
    game.team(CHECKOUT, "/declare", target="web-link")

    for width, height in [(1920, 1080), (1366, 768)]:
        page = sign_in(open_page(width, height), game, CHECKOUT, "ada")
        page.goto(game.url + "/report")
        assert page.locator(".topbar nav a[aria-current='page']").inner_text() == "Report"
        assert page.locator(".topbar a[href='/team']").count() == 1
        # The dark theme of the other pages.
        r, g, b = rgb(page, "html")
        assert max(r, g, b) < 40, f"the report's page is dark, not rgb{(r, g, b)}"
        r, g, b = rgb(page, ".report section#incidents")
        assert max(r, g, b) < 60, f"its panels are dark, not rgb{(r, g, b)}"
        r, g, b = rgb(page, ".report section#incidents td", "color")
        assert min(r, g, b) > 150, f"its text is light, not rgb{(r, g, b)}"
        # The incidents table fits its column: no scroll hides its last columns.
        scroll = page.locator("#incidents .scroll")
        fits = scroll.evaluate("el => [el.scrollWidth, el.clientWidth]")
        if width == 1920:
            assert fits[0] <= fits[1], f"the incidents table scrolls at {width}px: {fits}"
        points = page.locator("#incidents th", has_text="points").bounding_box()
        section = page.locator("section#incidents").bounding_box()
        if width == 1920:
            assert points["x"] + points["width"] <= section["x"] + section["width"], (points, section)
        # The page uses the width.
        assert section["width"] >= 0.9 * width, section
        screenshot(page, f"report-web-{width}x{height}")
