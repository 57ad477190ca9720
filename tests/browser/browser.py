"""A headless Chromium for the dashboard's browser tests, driven by Selenium.

It runs the distribution's browser through the distribution's driver (deploy/local/browser installs both),
so Selenium Manager never downloads anything; the only network the browser uses is the pages it opens.

    with Browser() as browser:
        browser.open("http://127.0.0.1:8080/")
        bars = browser.children("svg.chart")             # the chart's elements, in document order
        browser.screenshot(out_dir, "overview")          # out_dir/overview.png, the whole page
        browser.phone()                                  # the same page at a phone's width
        browser.submit("form#filter", {"programme": "north"})
        print(browser.text("h1"))
"""

import base64
import os
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

BROWSER = "/usr/bin/chromium"
DRIVER = "/usr/bin/chromedriver"

# Window sizes in CSS pixels: a common laptop screen, and a phone held upright.
DESKTOP = (1366, 900)
PHONE = (390, 844)

# How long to wait for a page to replace the one a form was submitted from.
NAVIGATION_TIMEOUT_S = 30


class Browser:
    """One headless Chromium window; use it in a `with` block so the browser always ends."""

    def __init__(self, size=DESKTOP):
        for path in (BROWSER, DRIVER):
            if not os.access(path, os.X_OK):
                raise RuntimeError(f"{path} is missing: install Chromium and its driver with deploy/local/browser")
        options = Options()
        options.binary_location = BROWSER
        options.add_argument("--headless")
        options.add_argument("--hide-scrollbars")  # screenshots as wide as the viewport
        options.add_argument(f"--window-size={size[0]},{size[1]}")
        if os.geteuid() == 0:
            # Chromium's sandbox refuses to run as root; elsewhere the sandbox stays on.
            options.add_argument("--no-sandbox")
        self.driver = webdriver.Chrome(options=options, service=Service(executable_path=DRIVER))
        self.resize(*size)

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.quit()

    def quit(self):
        self.driver.quit()

    def resize(self, width, height):
        """Sets the viewport (the page's area, which media queries see) to width × height CSS pixels. Below
        600 pixels wide it is a phone's: as on a real phone, a page without `<meta name="viewport"
        content="width=device-width">` is laid out 980 pixels wide and shown shrunk."""
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
        )

    def desktop(self):
        self.resize(*DESKTOP)

    def phone(self):
        self.resize(*PHONE)

    def open(self, url):
        """Opens url and returns once the page has loaded."""
        self.driver.get(url)

    def find(self, css, within=None):
        """The first element matching the CSS selector; fails naming the selector when there is none."""
        try:
            return (within or self.driver).find_element(By.CSS_SELECTOR, css)
        except NoSuchElementException:
            raise AssertionError(f"no element matches `{css}` on {self.driver.current_url}") from None

    def find_all(self, css, within=None):
        """Every element matching the CSS selector, in document order (none is an empty list)."""
        return (within or self.driver).find_elements(By.CSS_SELECTOR, css)

    def children(self, css_or_element):
        """The child elements of an element (or of the first match of a selector): an <svg>'s shapes."""
        element = css_or_element if isinstance(css_or_element, WebElement) else self.find(css_or_element)
        return element.find_elements(By.XPATH, "./*")

    def text(self, css):
        """The text of the first match as the page shows it (hidden text is left out)."""
        return self.find(css).text

    def attribute(self, css, name):
        """The attribute `name` of the first match as written in the page, or None when it has none."""
        return self.find(css).get_dom_attribute(name)

    def fill(self, form_css, values):
        """Fills the form's fields by name: text is typed over what a field held, a <select> gets the option
        with that value."""
        form = self.find(form_css)
        for name, value in values.items():
            field = self.find(f'[name="{name}"]', within=form)
            if field.tag_name == "select":
                Select(field).select_by_value(str(value))
            else:
                field.clear()
                field.send_keys(str(value))
        return form

    def submit(self, form_css, values=None):
        """Fills the form (if values are given), submits it with its submit button (or as a form without
        one) and waits until the page it leads to has loaded."""
        form = self.fill(form_css, values or {})
        before = self.driver.execute_script("return performance.timeOrigin")
        buttons = self.find_all('[type="submit"]', within=form)
        if buttons:
            buttons[0].click()
        else:
            form.submit()
        # A new document has a new time origin. While the browser swaps documents, asking the old one may fail
        # in several ways (a stale element, or a node that "does not belong to the document"): ask again.
        wait = WebDriverWait(self.driver, NAVIGATION_TIMEOUT_S, ignored_exceptions=(WebDriverException,))
        wait.until(
            lambda driver: driver.execute_script("return performance.timeOrigin") != before
            and driver.execute_script("return document.readyState") == "complete"
        )

    def screenshot(self, directory, name):
        """Saves the whole page, not only what the viewport shows, as directory/name.png; returns its path."""
        size = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
            },
        )
        path = Path(directory) / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path
