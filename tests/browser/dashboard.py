"""The dashboard in a real browser: signs in, reads every page as people would, and checks what it shows against
what the projector answered (the expectations file the Rust test writes), saving a screenshot of each page.

    dashboard.py URL EXPECTATIONS_JSON SCREENSHOT_DIR PHASE

PHASE `pages` checks every page as a program officer and as a partner; PHASE `tampered` checks that the
integrity page reports the altered log. Prints one line per check; exits non-zero on the first failure.
"""

import json
import sys
import time
from urllib.parse import urljoin

from browser import Browser


def check(condition, message):
    if not condition:
        raise AssertionError(message)
    print(f"ok: {message}")


def visit(browser, base, path):
    """Opens the page at path and says how long it took to load (the server's answer included): a figure
    to read, not a check."""
    began = time.monotonic()
    browser.open(urljoin(base, path))
    print(f"time: {path.split('?')[0]} loaded in {(time.monotonic() - began) * 1000:.0f} ms")


def sign_in(browser, base, token):
    visit(browser, base, "/sign-in")
    check(browser.text("h1") == "Sign in", "the sign-in page asks for a token")
    check(browser.attribute("textarea#token", "name") == "token", "the token field is labelled and named")
    browser.submit("form.sign-in", {"token": token})
    errors = [e.text for e in browser.find_all("#error")]
    check(browser.driver.current_url.endswith("/overview") and not errors,
          f"signing in leads to the overview (at {browser.driver.current_url}: {errors})")
    cookies = browser.driver.get_cookies()
    session = [c for c in cookies if c["name"] == "grants_dashboard_session"]
    check(len(session) == 1 and session[0]["httpOnly"], "the session cookie is HttpOnly")
    check(session[0].get("sameSite") == "Strict", "the session cookie is SameSite=Strict")
    check(token not in json.dumps(cookies), "the token itself is not in any cookie")


def sign_out(browser):
    browser.submit("header form[action='/sign-out']")
    check(browser.driver.current_url.endswith("/sign-in"), "signing out leads back to the sign-in page")


def minor_units(browser, selector):
    return int(browser.attribute(selector, "data-minor-units"))


def chart_has_shapes(browser, css, what):
    charts = browser.find_all(css)
    check(len(charts) > 0, f"{what}: a chart is drawn")
    shapes = [
        e for e in browser.children(charts[0]) if e.tag_name in ("rect", "polyline", "circle")
    ]
    check(len(shapes) > 2, f"{what}: the chart holds {len(shapes)} shapes")
    check(charts[0].get_dom_attribute("role") == "img", f"{what}: the chart is an image to assistive technology")


def no_secrets(browser, expect, page):
    source = browser.driver.page_source
    for token in (expect["officer_token"], expect["partner_token"]):
        check(token not in source, f"{page}: no bearer token in the page")
        check(token not in browser.driver.current_url, f"{page}: no bearer token in the URL")


def officer_pages(browser, base, expect, shots):
    sign_in(browser, base, expect["officer_token"])
    visit(browser, base, "/overview")
    check(browser.text("h1") == "Program overview", "the overview is shown")
    for total in expect["totals"]:
        row = f"table#totals tr[data-currency='{total['currency']}']"
        cells = browser.find_all(f"{row} td[data-minor-units]")
        shown = [int(c.get_dom_attribute("data-minor-units")) for c in cells]
        wanted = [total["offered"], total["committed"], total["released"], total["remaining"]]
        check(shown == wanted, f"overview totals in {total['currency']} equal the projector's: {shown}")
        check(browser.text(f"{row} td[data-field='awards']") == str(total["awards"]), "the award count matches")
    chart_has_shapes(browser, "svg[id^='by-country-chart']", "committed and released by country")
    chart_has_shapes(browser, "svg[id^='by-service-type-chart']", "by service type")
    chart_has_shapes(browser, "svg[id^='disbursements-chart']", "disbursements over time")
    check(len(browser.find_all("table#disbursements tbody tr")) == 13, "the disbursements table has 13 points")
    check(len(browser.find_all("table#by-country tbody tr")) > 0, "the by-country table has rows")
    no_secrets(browser, expect, "overview")
    browser.screenshot(shots, "overview")
    browser.phone()
    browser.screenshot(shots, "overview-phone")
    width = browser.driver.execute_script("return document.documentElement.scrollWidth")
    check(width <= 390, f"on a phone the overview fits the screen's width ({width} px)")
    browser.desktop()

    visit(browser, base, f"/overview?round={expect['round_id']}")
    check(browser.attribute("select#round option[selected]", "value") == expect["round_id"], "a round can be chosen")

    visit(browser, base, "/pipeline")
    check(browser.text("h1") == "Round pipeline", "the pipeline is shown")
    check(len(browser.find_all("section.round")) == expect["rounds"], f"every round is shown ({expect['rounds']})")
    chart_has_shapes(browser, "svg[id$='-stages-chart']", "applications by status")
    browser.screenshot(shots, "pipeline")

    visit(browser, base, "/portfolios")
    rows = browser.find_all("table#portfolios tbody tr[data-organisation-id]")
    organisations = {r.get_dom_attribute("data-organisation-id") for r in rows}
    check(len(organisations) == expect["portfolios"], f"every organisation with an award is listed ({len(organisations)})")
    browser.screenshot(shots, "portfolios")

    visit(browser, base, "/results")
    check(browser.text("h1") == "Results", "the results are shown")
    suppressed = browser.find_all("td.suppressed[data-suppressed='true']")
    check(len(suppressed) > 0, f"suppressed cells are marked as such ({len(suppressed)})")
    check(all(c.text == "withheld" for c in suppressed), "a suppressed cell shows 'withheld', never a number")
    check("withheld" in browser.text("#protection"), "the page explains what withheld means")
    browser.screenshot(shots, "results")

    visit(browser, base, f"/grants/award/{expect['featured_award']}")
    check(browser.text("h1").startswith("Grant timeline"), "a grant's timeline is shown")
    steps = browser.find_all("table#timeline tbody tr")
    check(len(steps) == expect["featured_steps"], f"the timeline has every step the projector has ({len(steps)})")
    check(any(s.get_dom_attribute("data-step") == "release" for s in steps), "the timeline shows a release")
    browser.screenshot(shots, "timeline")

    visit(browser, base, f"/overview?as_of={expect['day_before']}")
    check(browser.attribute("#point", "data-live") == "false", "a past day can be asked for")
    check(len(browser.find_all("table#totals tr[data-currency]")) == 0, "before anything was recorded there are no awards")

    visit(browser, base, "/integrity")
    check(browser.attribute("#integrity-verdict", "data-verdict") == "ok", "every log verifies")
    for service in ("applications", "awards", "reporting"):
        row = f"table#logs tr[data-service='{service}']"
        check(browser.attribute(row, "data-verdict") == "verified", f"{service}'s chain verifies")
    checkpoints = [c.text for c in browser.find_all("table#logs td:last-child")]
    check(any("signed" in c for c in checkpoints), f"a last signed checkpoint is shown with its age: {checkpoints}")
    check(len(browser.find_all("table#bus tr[data-service] td[data-backlog]")) == 3, "each relay's backlog is shown")
    check(len(browser.find_all("table#bus li[data-behind]")) >= 4, "each consumer's lag is shown")
    browser.screenshot(shots, "integrity")
    visit(browser, base, f"/integrity?as_of={expect['day_before']}")
    check(browser.attribute("#integrity-verdict", "data-verdict") == "ok", "as of a past day the logs verify too")
    then = [c.text for c in browser.find_all("table#logs td.num small")]
    check(then == ["0 on that day"] * 3, f"as of the day before anything was recorded the logs held nothing: {then}")
    sign_out(browser)


def partner_pages(browser, base, expect, shots):
    sign_in(browser, base, expect["partner_token"])
    nav = [a.text for a in browser.find_all("nav a")]
    check("Pipeline" not in nav and "Integrity" not in nav, f"a partner's navigation has no staff pages: {nav}")
    visit(browser, base, "/portfolios")
    check(browser.driver.current_url.endswith(f"/portfolios/{expect['partner_org']}"), "a partner is taken to its own portfolio")
    check(browser.attribute("#organisation", "data-organisation-id") == expect["partner_org"], "it is the partner's own")
    browser.screenshot(shots, "partner-portfolio")
    visit(browser, base, f"/portfolios/{expect['other_org']}")
    check(browser.attribute("#error", "data-status") == "404", "another organisation's portfolio is refused")
    check(expect["other_org_name"] not in browser.driver.page_source, "nothing of the other organisation is shown")
    visit(browser, base, f"/grants/award/{expect['other_award']}")
    check(browser.attribute("#error", "data-status") == "404", "another organisation's grant page is refused")
    browser.screenshot(shots, "partner-refused")
    visit(browser, base, "/pipeline")
    check(browser.attribute("#error", "data-status") == "403", "the pipeline is refused to a partner")
    visit(browser, base, "/overview")
    check(browser.text("h1") == "Program overview", "a partner sees an overview")
    check("Your organisation's awards." in browser.text("main"), "of its own organisation")
    sign_out(browser)
    visit(browser, base, "/overview")
    check(browser.driver.current_url.endswith("/sign-in"), "after signing out the pages ask to sign in again")


def tampered(browser, base, expect, shots):
    sign_in(browser, base, expect["officer_token"])
    visit(browser, base, "/integrity")
    check(browser.attribute("#integrity-verdict", "data-verdict") == "problem", "the integrity page turns red")
    row = f"table#logs tr[data-service='{expect['tampered_service']}']"
    check(browser.attribute(row, "data-verdict") == "tampered", f"{expect['tampered_service']}'s log is tampered")
    check(f"at position {expect['tampered_position']}" in browser.text(row), "the altered position is named")
    visit(browser, base, f"/integrity?as_of={expect['day_before']}")
    check(browser.attribute("#integrity-verdict", "data-verdict") == "problem", "as of a past day the altered log is still reported")
    visit(browser, base, "/integrity")
    colour = browser.find("#integrity-verdict").value_of_css_property("color")
    check(colour in ("rgba(176, 0, 32, 1)", "rgb(176, 0, 32)"), f"the verdict is shown in red ({colour})")
    browser.screenshot(shots, "integrity-tampered")


def main():
    base, expectations, shots, phase = sys.argv[1:5]
    with open(expectations, encoding="utf-8") as f:
        expect = json.load(f)
    with Browser() as browser:
        if phase == "pages":
            officer_pages(browser, base, expect, shots)
            partner_pages(browser, base, expect, shots)
        elif phase == "tampered":
            tampered(browser, base, expect, shots)
        else:
            raise SystemExit(f"unknown phase `{phase}`")


if __name__ == "__main__":
    main()
