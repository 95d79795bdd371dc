"""Lighthouse on the shipped nginx site: the four category scores and the bytes sent, per page.

Every page of tests/pages.py: the public ones, the error pages, /api/docs before and with
Swagger UI opened (#/users opens it at once), and the account and admin pages of a logged-in
administrator (and of one between the password and the second factor, and of an account
without a second factor, enrolling one), whose cookies Lighthouse sends with each request
(--extra-headers). A default
bake, migrated, served by Gunicorn behind its own nginx site over HTTPS on loopback (the
tests' servers, with only addresses and paths changed; site_pages.py). Lighthouse 12 (npm,
installed into .cache/lighthouse/ on first use) drives Debian's Chromium with its default
settings: a mobile device on a simulated slow 4G link and a 4x slower CPU, so the figures are
not loopback's.
Each page is audited `rounds` times with a fresh profile (a first visit, empty cache); the
table gives the median of each figure and the lowest score seen. --quick audits one page of
each kind (QUICK_PAGES), to prove the command works in a few minutes less.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import median
from urllib.parse import urlsplit

from baked import TEMPLATE
from measure import markdown
from site_pages import ERROR_PAGES, PAGES, QUICK_PAGES, cookies_of, logged_in_cookies, served_site

CATEGORIES = ["performance", "accessibility", "best-practices", "seo"]
TARGET = 100  # in every category, on every page but one:
SWAGGER_TARGET = 95  # the opened Swagger UI, whose script is a dependency's
LIGHTHOUSE_VERSION = "12"
CACHE = TEMPLATE / ".cache" / "lighthouse"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = "--headless=new --no-sandbox --ignore-certificate-errors --disable-gpu"
# Lighthouse's own errors that end "Please run Lighthouse again": a trace Chromium did not
# record on a busy machine, not a fault of the page. Each is retried, twice at most.
TRANSIENT = ("NO_NAVSTART", "NO_FCP", "PROTOCOL_TIMEOUT", "NO_TRACING_STARTED", "NO_LCP")
ATTEMPTS = 3


def lighthouse():
    """The lighthouse command, installed with npm into .cache/lighthouse the first time."""
    command = CACHE / "node_modules" / ".bin" / "lighthouse"
    if not command.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        npm = [shutil.which("npm") or "npm", "install", "--no-audit", "--no-fund"]
        # npm's report goes to stderr: stdout is the table's alone.
        subprocess.run(
            [*npm, f"lighthouse@{LIGHTHOUSE_VERSION}"], cwd=CACHE, check=True, stdout=sys.stderr
        )
    return command


class LighthouseFailed(RuntimeError):
    def transient(self):
        return any(code in str(self) for code in TRANSIENT)


def audit(command, url, folder, headers=None):
    """One Lighthouse run on `url`, tried again after a transient error of Lighthouse's own."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return audit_once(command, url, folder, headers)
        except LighthouseFailed as failed:
            if not failed.transient() or attempt == ATTEMPTS:
                raise
            print(f"lighthouse on {url}, attempt {attempt}: {failed}; again", file=sys.stderr)


def audit_once(command, url, folder, headers=None):
    """One Lighthouse run on `url`: {category: score 0-100} and the bytes sent."""
    report = folder / "report.json"
    # TMPDIR too: Chromium leaves its singleton socket's folder (org.chromium.Chromium.*)
    # behind in the temporary folder, which is this run's and goes with it.
    env = {**os.environ, "CHROME_PATH": CHROMIUM, "HOME": str(folder), "TMPDIR": str(folder)}
    done = subprocess.run(
        [
            str(command),
            url,
            "--quiet",
            "--output=json",
            f"--output-path={report}",
            f"--chrome-flags={CHROMIUM_FLAGS}",
            *([f"--extra-headers={json.dumps(headers)}"] if headers else []),
            # The error pages are audited too: Lighthouse stops at a 4xx status without this.
            *(["--ignore-status-code"] if urlsplit(url).path in ERROR_PAGES else []),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise LighthouseFailed(f"lighthouse failed on {url}:\n{done.stderr[-2000:]}")
    data = json.loads(report.read_text())
    if data.get("runtimeError"):
        raise LighthouseFailed(f"lighthouse on {url}: {data['runtimeError']}")
    scores = {name: round(100 * data["categories"][name]["score"]) for name in CATEGORIES}
    weighed = [
        ref["id"]
        for category in CATEGORIES
        for ref in data["categories"][category]["auditRefs"]
        if ref["weight"]  # the audits a score is made of
    ]
    failed = [
        audit_id
        for audit_id in weighed
        # None: not applicable; 0 is a failure (`score or 1` once took it for a pass)
        if data["audits"][audit_id]["score"] is not None
        and data["audits"][audit_id]["score"] < 0.9
    ]
    sent = data["audits"]["total-byte-weight"]["numericValue"]
    return scores, sent, failed


def label(path, who):
    return f"{path} ({who})" if who else path


def target(path):
    return SWAGGER_TARGET if "#/" in path else TARGET


def run(rounds, quick=False):
    """Audit each page `rounds` times; returns the table and the audits that did not pass."""
    pages = QUICK_PAGES if quick else PAGES
    command = lighthouse()
    results = {label(path, who): [] for path, who in pages}
    with served_site("browser-audit-") as site:
        # The administrator's session (its first login turns a second factor on); each other
        # viewer's is made just before its page, so none expires (the second step in 5 min).
        admin = logged_in_cookies(site)
        for _ in range(rounds):
            for path, who in pages:
                cookies = admin if who == "admin" else cookies_of(site, who) if who else []
                cookie = "; ".join(f"{c['name']}={c['value']}" for c in cookies)
                headers = {"Cookie": cookie} if who else None
                with tempfile.TemporaryDirectory(prefix="lighthouse-") as folder:
                    found = audit(command, site.url + path, Path(folder), headers)
                    results[label(path, who)].append(found)
    lines, notes = [], []
    for (path, _), (page, runs) in zip(pages, results.items(), strict=True):
        cells = [page]
        for category in CATEGORIES:
            values = [scores[category] for scores, _, _ in runs]
            cells.append(f"{median(values):.0f} (min {min(values)})")
        cells.append(f"{median(sent for _, sent, _ in runs) / 1024:.1f} KiB")
        lowest = min(min(scores.values()) for scores, _, _ in runs)
        cells.append("yes" if lowest >= target(path) else "NO")
        lines.append(cells)
        failed = sorted({audit_id for _, _, ids in runs for audit_id in ids})
        if failed:
            notes.append(f"{page}: below 0.9 in some run: {', '.join(failed)}")
    header = ["page", *CATEGORIES, "bytes sent", f"all >= {TARGET} ({SWAGGER_TARGET} Swagger UI)"]
    return markdown(header, lines), notes
