"""Screenshots of the baked app for the READMEs: light and dark, phone and desktop.

    python3 benchmarks/screenshots.py            # writes docs/screenshots/*.png

A default bake served as in production (site_pages.py), Debian's Chromium driven by
Playwright, with the colour scheme the page asks the system for (prefers-color-scheme). Two
pages: the login page as a visitor sees it, and the admin area's accounts as the logged-in
administrator sees them.
"""

import os
import sys
import tempfile
from pathlib import Path

from baked import TEMPLATE
from site_pages import logged_in_cookies, served_site

CHROMIUM = "/usr/bin/chromium"
OUTPUT = TEMPLATE / "docs" / "screenshots"
DEVICES = {
    "phone": {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2},
    "desktop": {"viewport": {"width": 1280, "height": 800}, "device_scale_factor": 1},
}
SHOTS = [("login", "/auth/login", False), ("admin", "/admin/users", True)]


def take(site, output):
    from playwright.sync_api import sync_playwright

    cookies = [{**cookie, "url": site.url, "secure": True} for cookie in logged_in_cookies(site)]
    written = []
    with tempfile.TemporaryDirectory(prefix="chromium-") as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu"],
            env={**os.environ, "TMPDIR": tmp},
        )
        try:
            for scheme in ("light", "dark"):
                for device, options in DEVICES.items():
                    context = browser.new_context(
                        color_scheme=scheme, ignore_https_errors=True, **options
                    )
                    for name, path, logged_in in SHOTS:
                        context.clear_cookies()
                        if logged_in:
                            context.add_cookies(cookies)
                        page = context.new_page()
                        page.goto(site.url + path)
                        target = output / f"{name}-{scheme}-{device}.png"
                        page.screenshot(path=target)
                        written.append(target)
                        page.close()
                    context.close()
        finally:
            browser.close()
    return written


def main():
    output = Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT
    output.mkdir(parents=True, exist_ok=True)
    with served_site("screenshots-") as site:
        for path in take(site, output):
            print(path)


if __name__ == "__main__":
    main()
