#!/usr/bin/python3
"""Draws a dashboard with index.html in headless Chromium and saves a PNG.

    capture.py --prometheus http://127.0.0.1:9090 \
        --dashboard ../dashboards/tiermail-mail-flow.json --out dashboard.png

Serves deploy/observability/ on a loopback port (the page fetches the
dashboard JSON from there and asks Prometheus, whose API allows CORS, for
the data), waits until every panel is drawn, then takes a screenshot of
the whole page. Needs Debian's chromium, chromium-driver and
python3-selenium (scripts/test installs them). tests/observability.rs runs
it when TIERMAIL_DASHBOARD_PNG is set.
"""

import argparse
import functools
import http.server
import os
import shutil
import sys
import threading
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)  # deploy/observability


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prometheus", required=True)
    ap.add_argument("--dashboard", required=True, help="a JSON file under deploy/observability")
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=int, default=15)
    ap.add_argument("--scrape", type=int, default=1, help="the scrape interval, seconds")
    ap.add_argument("--rate", default="30s", help="what $__rate_interval becomes")
    ap.add_argument("--width", type=int, default=1600)
    ap.add_argument("--timeout", type=float, default=60)
    a = ap.parse_args()

    dashboard = os.path.relpath(os.path.abspath(a.dashboard), ROOT)
    if dashboard.startswith(".."):
        sys.exit(f"{a.dashboard} is not under {ROOT}")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=ROOT))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    page = (f"http://127.0.0.1:{server.server_address[1]}/render/index.html"
            f"?prometheus={a.prometheus}&dashboard=../{dashboard}"
            f"&minutes={a.minutes}&scrape={a.scrape}&rate={a.rate}")

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                f"--window-size={a.width},1000", "--disable-gpu", "--hide-scrollbars",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]:
        opts.add_argument(arg)
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    d = webdriver.Chrome(service=Service(driver), options=opts)
    try:
        d.get(page)
        deadline = time.monotonic() + a.timeout
        while d.execute_script("return document.body.dataset.ready") != "1":
            if time.monotonic() > deadline:
                sys.exit(f"the page did not finish drawing in {a.timeout} s: {page}")
            time.sleep(0.2)
        failed = d.execute_script("return document.body.dataset.failed")
        if failed != "0":
            text = d.find_element("tag name", "body").text
            sys.exit(f"{failed} panel(s) failed:\n{text}")
        # Grow the window to the whole page, let it lay out again, draw.
        height = d.execute_script("return document.documentElement.scrollHeight")
        d.set_window_size(a.width, height + 20)
        d.get(page)
        deadline = time.monotonic() + a.timeout
        while d.execute_script("return document.body.dataset.ready") != "1":
            if time.monotonic() > deadline:
                sys.exit("the page did not finish drawing the second time")
            time.sleep(0.2)
        d.save_screenshot(a.out)
        print(f"wrote {a.out} ({a.width}x{height}) from {page}")
    finally:
        d.quit()
        server.shutdown()


if __name__ == "__main__":
    main()
