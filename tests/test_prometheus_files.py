"""The baked Prometheus files pass Debian's promtool: the alert rules (`check rules`), a unit
test for each rule (`test rules`), and the scrape settings of the compose profile and of the
systemd example (`check config`), whose ports are the ones the app serves its metrics on."""

import re
import shutil

import pytest
import yaml

import servers

SLUG = "my_flask_app"


@pytest.fixture(scope="module")
def project(bake_once):
    return bake_once()


def passes(result):
    return result.returncode == 0, result.stdout + result.stderr


def test_the_alert_rules_pass_promtool(project):
    ok, output = passes(servers.promtool("check", "rules", "prometheus/alerts.yml", cwd=project))
    assert ok, output


def test_each_alert_has_a_unit_test_and_they_pass(project):
    rules = yaml.safe_load((project / "prometheus" / "alerts.yml").read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    tests = sorted((project / "prometheus" / "tests").glob("*.yml"))
    tested = set()
    for path in tests:
        data = yaml.safe_load(path.read_text())
        names = {case["alertname"] for test in data["tests"] for case in test["alert_rule_test"]}
        fired = {
            case["alertname"]
            for test in data["tests"]
            for case in test["alert_rule_test"]
            if case["exp_alerts"]
        }
        assert names == fired, f"{path.name} never expects its alert to fire"
        # One file a rule, named after it (JobsFailed: jobs_failed.yml).
        assert names == {path.stem.title().replace("_", "")}, path.name
        tested |= names
    assert tested == alerts
    files = [f"prometheus/tests/{path.name}" for path in tests]
    ok, output = passes(servers.promtool("test", "rules", *files, cwd=project))
    assert ok, output
    assert output.count("SUCCESS") == len(tests)


def test_the_compose_profile_scrapes_the_ports_the_app_serves_on(project):
    ok, output = passes(
        servers.promtool("check", "config", "prometheus/prometheus.yml", cwd=project)
    )
    assert ok, output
    compose = yaml.safe_load((project / "compose.prod.yaml").read_text())
    settings = compose["x-app"]["environment"]
    prometheus = compose["services"]["prometheus"]
    assert prometheus["profiles"] == ["monitoring"]  # only when asked for
    assert all(port.startswith("127.0.0.1:") for port in prometheus["ports"])
    assert "./prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    config = yaml.safe_load((project / "prometheus" / "prometheus.yml").read_text())
    ports = {
        job["job_name"]: (sd["names"], sd["port"])
        for job in config["scrape_configs"]
        for sd in job["dns_sd_configs"]
    }
    assert ports == {
        "web": (["web"], int(settings["METRICS_PORT"])),
        "worker": (["worker"], int(settings["JOBS_METRICS_PORT"])),
    }
    assert config["rule_files"] == ["alerts.yml"]


def test_the_swarm_stack_serves_metrics_where_the_compose_profile_looks(bake_once):
    project = bake_once(database="postgresql")
    swarm = yaml.safe_load((project / "compose.swarm.yaml").read_text())
    prod = yaml.safe_load((project / "compose.prod.yaml").read_text())
    names = ("METRICS_PORT", "JOBS_METRICS_PORT", "METRICS_BIND")
    for name in names:
        assert swarm["x-app"]["environment"][name] == prod["x-app"]["environment"][name]


def test_the_systemd_scrape_example_passes_promtool(project, tmp_path):
    """As its comment says: the example beside the app's rules, copied under the slug's name."""
    shutil.copy(project / "deploy" / "prometheus.yml", tmp_path / "prometheus.yml")
    shutil.copy(project / "prometheus" / "alerts.yml", tmp_path / f"{SLUG}-alerts.yml")
    ok, output = passes(servers.promtool("check", "config", "prometheus.yml", cwd=tmp_path))
    assert ok, output
    config = yaml.safe_load((tmp_path / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]
    }
    assert targets == {"web": ["127.0.0.1:9464"], "worker": ["127.0.0.1:9465"]}
    units = (project / "deploy" / f"{SLUG}.service").read_text()
    assert "METRICS_PORT=9464" in units
    worker = (project / "deploy" / f"{SLUG}-worker.service").read_text()
    assert "JOBS_METRICS_PORT=9465" in worker


def test_the_docs_explain_every_alert_and_metric(project):
    docs = (project / "docs" / "observability.md").read_text()
    rules = yaml.safe_load((project / "prometheus" / "alerts.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert f"| `{rule['alert']}` |" in docs, rule["alert"]
    telemetry = (project / SLUG / "telemetry.py").read_text()
    counters = re.findall(r'Counter\(\s*"(\w+)"', telemetry)
    names = {f"{name}_total" for name in counters}
    names |= set(re.findall(r'Histogram\(\s*"(\w+)"', telemetry))
    names |= set(re.findall(r'GaugeMetricFamily\(\s*"(\w+)"', telemetry))
    states = re.search(r"JOB_STATES = \{(.*?)\}", telemetry, re.S)[1]
    names |= {f"app_jobs_{state}" for state in re.findall(r'^    "(\w+)":', states, re.M)}
    assert len(names) == 9, names
    for name in names:
        assert f"| `{name}` |" in docs, name
