"""What the monitoring files under deploy/ ask Prometheus for: their PromQL, the metric names in it, and promtool.

The dashboard's queries are read from deploy/grafana/dashboards/*.json (every panel's targets and the
template variables), the alert rules' from deploy/prometheus/alerts.yml.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

BASE_DIR = Path(__file__).resolve().parents[2]
DEPLOY = BASE_DIR / "deploy"
PROMETHEUS_DIR = DEPLOY / "prometheus"
GRAFANA_DIR = DEPLOY / "grafana"
DASHBOARDS = sorted((GRAFANA_DIR / "dashboards").glob("*.json"))
ALERT_RULES = PROMETHEUS_DIR / "alerts.yml"
ALERT_TESTS = PROMETHEUS_DIR / "tests" / "alerts.test.yml"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"

# Series Prometheus makes itself for every target, which no /metrics exports.
PROMETHEUS_OWN = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})

# Words of PromQL that look like metric names: binary operators, modifiers, literals.
_KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
) | frozenset({"inf", "nan"})
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE)
_TOKEN = re.compile(
    r"(?P<number>0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?:ms|[smhdwy])*)"
    r"|(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?P<call>\s*\()?"
)
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?P<expr>.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$", re.DOTALL)
_GRAFANA_VARIABLE = re.compile(r"\$(?:\{[^}]*\}|[a-zA-Z_][a-zA-Z0-9_]*)")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords and label names left out)."""
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^{}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\[\]]*\]", " ", text)  # ranges and subqueries
    text = _GROUPING.sub(" ", text)
    names = set()
    for token in _TOKEN.finditer(text):
        name = token.group("name")
        if name and not token.group("call") and name.lower() not in _KEYWORDS:
            names.add(name)
    return names


def as_promql(query: str) -> str:
    """A Grafana query as Prometheus would receive it: variables filled in, label_values() unwrapped."""
    match = _LABEL_VALUES.match(query)
    if match:
        query = match.group("expr")
    query = query.replace("$__rate_interval", "1m").replace("${__rate_interval}", "1m")
    query = query.replace("$__interval", "1m").replace("$__range", "1h")
    return _GRAFANA_VARIABLE.sub(".*", query)


@dataclass(frozen=True)
class Query:
    where: str  # which dashboard and panel, or which alert
    expr: str  # PromQL as Prometheus receives it


def _panels(panels: list[dict]):
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # a collapsed row keeps its panels inside it


def dashboard(path: Path) -> dict:
    return json.loads(path.read_text())


def dashboard_panels(path: Path) -> list[dict]:
    return list(_panels(dashboard(path)["panels"]))


def dashboard_queries() -> list[Query]:
    queries = []
    for path in DASHBOARDS:
        board = dashboard(path)
        for panel in _panels(board["panels"]):
            for target in panel.get("targets", []):
                where = f"{path.name}: panel {panel['title']!r} ({target.get('refId', '?')})"
                queries.append(Query(where, as_promql(target["expr"])))
        for variable in board.get("templating", {}).get("list", []):
            if variable.get("type") == "query":
                query = variable["query"]
                query = query["query"] if isinstance(query, dict) else query
                queries.append(Query(f"{path.name}: variable ${variable['name']}", as_promql(query)))
    return queries


def alert_rules() -> list[dict]:
    return [rule for group in yaml.safe_load(ALERT_RULES.read_text())["groups"] for rule in group["rules"]]


def rule_queries() -> list[Query]:
    return [Query(f"alerts.yml: {rule.get('alert') or rule.get('record')}", rule["expr"]) for rule in alert_rules()]


def promtool() -> str:
    """promtool's path; in CI its absence fails the test, elsewhere it skips it."""
    found = shutil.which("promtool") or shutil.which("promtool", path=str(Path(sys.executable).parent))
    if found is None:
        message = "promtool is not installed (deploy/scripts/bootstrap.sh installs it from Debian's prometheus package)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def run_promtool(*args: str, cwd: Path = BASE_DIR) -> subprocess.CompletedProcess:
    return subprocess.run([promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=120)
