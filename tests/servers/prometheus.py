"""Debian's prometheus, scraping given targets every second, and promtool."""

import contextlib
import json
import shutil
import subprocess
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

from .process import Server, answers_ok, free_port, need, show_log_on_failure, wait_until

SCRAPE_SECONDS = 1


class Prometheus(Server):
    """A running prometheus; query() asks its HTTP API for an instant vector."""

    def query(self, expression):
        """{frozenset(labels): value} for each series of `expression`, evaluated now."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
        with urllib.request.urlopen(url, timeout=10) as answer:
            data = json.load(answer)
        assert data["status"] == "success", data
        return {
            frozenset(series["metric"].items()): float(series["value"][1])
            for series in data["data"]["result"]
        }

    def targets(self):
        """The scrape targets' health, by scrape URL: "up", "down" or "unknown"."""
        with urllib.request.urlopen(f"{self.url}/api/v1/targets", timeout=10) as answer:
            data = json.load(answer)
        return {t["scrapeUrl"]: t["health"] for t in data["data"]["activeTargets"]}


@contextlib.contextmanager
def prometheus(targets, rules=None):
    """prometheus on 127.0.0.1:<free port> scraping `targets` (host:port of /metrics) every
    second, with a data folder of its own, stopped by PID. `rules`: a rules file to load."""
    executable = need("prometheus")
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="e2e-prometheus-"))
    config = {
        "global": {
            "scrape_interval": f"{SCRAPE_SECONDS}s",
            "evaluation_interval": f"{SCRAPE_SECONDS}s",
        },
        "scrape_configs": [{"job_name": "app", "static_configs": [{"targets": list(targets)}]}],
    }
    if rules:
        config["rule_files"] = [str(rules)]
    (folder / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
    log = folder / "prometheus.log"
    command = [
        executable,
        f"--config.file={folder / 'prometheus.yml'}",
        f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    server = Prometheus(process, port, log)
    try:
        with show_log_on_failure("prometheus", log):
            wait_until(lambda: answers_ok(f"{server.url}/-/ready"), "prometheus", process, log)
            yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def promtool(*args, cwd=None):
    """Run Debian's promtool; the finished process (check it yourself)."""
    return subprocess.run(
        [need("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )
