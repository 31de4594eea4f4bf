"""The web UI in a real headless Chromium: a team plays an incident from its console while
the big screen follows it live; an undetected incident shows nowhere but on the game
master's console; the kill switch (with its confirmation) reverts every fault; a team cannot
open the game master's console. And a screenshot of every page at two sizes, kept in
test-artifacts/screenshots for people to look at.

Run by ./scripts/test; see conftest.py for what it needs.
"""

import os
import signal

from conftest import CHECKOUT, GM, SEARCH, http_ok, pids_of, screenshot, sign_in, wait_for


def board_points(page, team):
    return page.get_attribute(f"#rows tr[data-team='{team}']", "data-points")


def mark_no_reload(page):
    page.evaluate("window.__stillTheSamePage = true")


def assert_not_reloaded(page):
    assert page.evaluate("window.__stillTheSamePage === true"), "the page was reloaded"


def flash(page):
    return page.text_content("#flash")


def test_a_team_declares_diagnoses_and_claims_while_the_scoreboard_follows_live(game, open_page):
    game.gm("/game/start")
    game.gm("/unleash", scenario="web-stuck", team="checkout")
    wait_for(lambda: not http_ok(game.link_url("web"), 0.5), "the web service to be stuck")

    board = open_page(1920, 1080)
    board.goto(game.url + "/")
    assert board.inner_text("h1").upper() == "HIGH SCORES"
    assert board_points(board, "checkout") == "0"
    board.wait_for_selector("body:not(.is-offline) .live-dot")
    mark_no_reload(board)

    team = sign_in(open_page(), game, CHECKOUT, "ada")
    assert team.url.endswith("/team")
    assert "Team checkout" in team.inner_text("h1")
    assert "No open incident" in team.inner_text("#incidents")

    # Detect: declare the stuck service.
    team.select_option("#declare select[name=target]", "web")
    team.click("#declare button[type=submit]")
    number = game.number("web-stuck")
    assert f"detected incident #{number}" in flash(team)
    card = f"#incident-{number}"
    team.wait_for_selector(f"{card} .badge-detected")

    # The big screen moves without a reload. An open incident's points say its difficulty
    # and time to detect: the big screen counts them once it closes.
    board.wait_for_selector(f"#incidents li:has-text('#{number}')")
    board.wait_for_selector(f"#timeline li:has-text('checkout detected incident #{number}')")
    assert board_points(board, "checkout") == "0", "an open incident's points are not public"
    assert_not_reloaded(board)

    # A hint, then the right diagnosis.
    team.click(f"{card} form[action='/team/hint'] button")
    assert f"hint 1 of #{number}" in flash(team)
    assert "is there, but is it running" in team.inner_text(f"{card} .hint-bought")
    team.select_option(f"{card} select[name=target]", "web")
    team.select_option(f"{card} select[name=kind]", "pause")
    team.click(f"{card} form[action='/team/diagnose'] button")
    assert f"right diagnosis of #{number}" in flash(team)
    team.wait_for_selector(f"{card} .badge-diagnosed")

    # Repair with the team's own tooling (here: SIGCONT), then claim.
    for pid in pids_of(game.web):
        os.kill(pid, signal.SIGCONT)
    wait_for(lambda: http_ok(game.link_url("web")), "the web service to answer again")
    team.click(f"{card} form[action='/team/claim'] button")
    assert f"claim on #{number} recorded" in flash(team)

    # The referee verifies; the console and the big screen follow, live.
    team.wait_for_selector(f"{card} .badge-resolved")
    board.wait_for_selector("#rows tr[data-team='checkout'] td.c-fixed:text-is('1')")
    wait_for(lambda: int(board_points(board, "checkout")) > 0, "the scoreboard to count the resolved incident")
    board.wait_for_selector(f"#timeline li:has-text('#{number} of checkout'):has-text('resolved by the team')")
    assert_not_reloaded(board)
    assert not board.query_selector("#incidents li"), "a closed incident leaves the live list"


def test_an_undetected_incident_never_shows_on_the_scoreboard_or_a_team_console(game, open_page):
    board = open_page(1920, 1080)
    board.goto(game.url + "/")
    checkout = sign_in(open_page(), game, CHECKOUT, "ada")
    search = sign_in(open_page(), game, SEARCH, "bob")
    mark_no_reload(board)
    game.gm("/game/start")
    opened = game.gm("/unleash", scenario="secret-slowness", team="search")
    assert "secret-slowness" in opened["message"]
    board.wait_for_selector("#status .status-running")
    search.wait_for_selector("#status .status-running")
    checkout.wait_for_selector("#status .status-running")
    number = game.number("secret-slowness")
    secrets = ["secret-slowness", f"#{number}", str(number), "latency"]
    for page, region in [
        (board, "body"),
        (search, "#incidents"),
        (search, "#timeline"),
        (search, "#score"),
        (checkout, "#incidents"),
        (checkout, "#timeline"),
    ]:
        for fresh in (False, True):
            if fresh:
                page.reload()
            text = page.inner_text(region)
            for secret in secrets:
                assert secret not in text, f"{page.url} shows `{secret}` in {region}: {text}"
    assert "No open incident" in search.inner_text("#incidents")
    assert "No incident detected" in board.inner_text("#incidents")

    # Once the team detects it, it shows, live, without its ground truth.
    game.team(SEARCH, "/declare", target="search-link")
    board.wait_for_selector(f"#incidents li:has-text('#{number}')")
    text = board.inner_text("body")
    assert "secret-slowness" not in text and "latency" not in text
    search.wait_for_selector(f"#incident-{number} .badge-detected")
    assert "secret-slowness" not in search.inner_text("#incidents")


def test_the_kill_switch_with_its_confirmation_reverts_every_fault(game, open_page):
    game.gm("/game/start")
    game.gm("/unleash", scenario="web-cut", team="checkout")
    game.gm("/unleash", scenario="search-cut", team="search")
    wait_for(lambda: not http_ok(game.link_url("web"), 0.5), "the web link to be down")
    wait_for(lambda: not http_ok(game.link_url("search"), 0.5), "the search link to be down")
    assert len(game.faults()) == 2

    gm = sign_in(open_page(1920, 1080), game, GM, "grace")
    assert gm.url.endswith("/gm")
    gm.wait_for_selector("#gm-faults tbody tr >> nth=1")
    assert "web-cut" in gm.inner_text("#gm-incidents")
    assert "down on web-link" in gm.inner_text("#gm-incidents"), "the ground truth"

    gm.click("#kill-switch")
    dialog = gm.locator("#kill-dialog")
    dialog.wait_for(state="visible")
    assert "Hit the kill switch?" in dialog.inner_text()
    assert game.faults(), "pressing the button alone reverts nothing"
    gm.click("#kill-confirm")
    gm.wait_for_selector("#flash")
    assert "kill switch" in flash(gm).lower(), flash(gm)

    assert game.faults() == []
    wait_for(lambda: http_ok(game.link_url("web")), "the web service to answer again")
    wait_for(lambda: http_ok(game.link_url("search")), "the search service to answer again")
    assert "Re-arm" in gm.inner_text("#controls")
    assert "kill switch on" in gm.text_content("#status")
    assert "cancelled" in gm.text_content("#gm-incidents")


def test_a_team_cannot_open_the_game_masters_console(game, open_page):
    anonymous = open_page()
    anonymous.goto(game.url + "/gm")
    assert anonymous.url.endswith("/login?next=/gm"), anonymous.url

    team = sign_in(open_page(), game, CHECKOUT, "ada")
    answer = team.goto(game.url + "/gm")
    assert answer.status == 403
    assert "Game master only" in team.inner_text("h1")
    assert not team.query_selector("#kill-switch")
    assert "Game master" not in team.inner_text("nav")
    answer = team.goto(game.url + "/gm/live")
    assert answer.status == 403


def test_screenshots_of_every_page(game, open_page):
    """A game in full swing, then every page at 1920x1080 and 1366x768."""
    game.gm("/game/start")
    game.gm("/unleash", scenario="search-cut", team="search")
    search = game.team(SEARCH, "/declare", target="search-link")["incident"]["id"]
    game.team(SEARCH, f"/incidents/{search}/diagnose", target="search-link", kind="down")
    game.gm("/unleash", scenario="web-slow", team="checkout")
    web = game.team(CHECKOUT, "/declare", target="web-link")["incident"]["id"]
    game.team(CHECKOUT, f"/incidents/{web}/hints", hint=0)
    game.team(CHECKOUT, f"/incidents/{web}/diagnose", target="web", kind="kill")
    game.team(SEARCH, "/declare", target="search")
    game.gm("/adjust", team="checkout", points=50, reason="best incident channel etiquette")
    game.gm("/unleash", scenario="web-stuck", team="checkout")
    wait_for(lambda: len(game.faults()) == 2, "two faults active")

    shots = []
    for width, height in [(1920, 1080), (1366, 768)]:
        size = f"{width}x{height}"
        board = open_page(width, height)
        board.goto(game.url + "/")
        board.wait_for_selector("#rows tr[data-team='search']")
        shots.append(screenshot(board, f"scoreboard-{size}"))

        kiosk = open_page(width, height)
        kiosk.goto(game.url + "/?kiosk=1")
        kiosk.wait_for_selector("#rows tr[data-team='search']")
        shots.append(screenshot(kiosk, f"kiosk-{size}"))

        login = open_page(width, height)
        login.goto(game.url + "/login")
        shots.append(screenshot(login, f"login-{size}"))

        team = sign_in(open_page(width, height), game, CHECKOUT, "ada")
        team.wait_for_selector(f"#incident-{web} [data-countdown]")
        shots.append(screenshot(team, f"team-{size}"))
        team.screenshot(path=str(shots[-1]).replace(".png", "-full.png"), full_page=True)

        gm = sign_in(open_page(width, height), game, GM, "grace")
        gm.wait_for_selector("#gm-faults tbody tr")
        shots.append(screenshot(gm, f"gm-{size}"))
        gm.screenshot(path=str(shots[-1]).replace(".png", "-full.png"), full_page=True)
        gm.click("#kill-switch")
        gm.locator("#kill-dialog").wait_for(state="visible")
        shots.append(screenshot(gm, f"gm-kill-dialog-{size}"))

        team.goto(game.url + "/report")
        shots.append(screenshot(team, f"report-web-{size}"))
        team.screenshot(path=str(shots[-1]).replace(".png", "-full.png"), full_page=True)

        forbidden = sign_in(open_page(width, height), game, SEARCH, "bob")
        forbidden.goto(game.url + "/gm")
        shots.append(screenshot(forbidden, f"forbidden-{size}"))
    for shot in shots:
        assert shot.stat().st_size > 10_000, f"{shot} looks empty"
