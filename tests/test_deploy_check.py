"""The production settings pass Django's deployment checklist (`manage.py check --deploy`).

Run in a fresh interpreter with only the variables a production host sets, so nothing from the
test settings or the developer's shell can hide a problem.
"""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "blogsite.settings.production",
    "DJANGO_ALLOWED_HOSTS": "blog.example.com,web,localhost",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://blog.example.com",
    "DATABASE_URL": "postgres://blog:secret@postgres:5432/blog",
    "REDIS_URL": "redis://redis:6379/0",
    "OLLAMA_URLS": "http://ollama-1:11434,http://ollama-2:11434",
    "AIWRITER_DEFAULT_MODEL": "llama3.2:1b",
}


def python(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The project's Python in a fresh environment: only PATH, HOME and `env`."""
    fresh = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"), **env}
    return subprocess.run([sys.executable, *args], env=fresh, cwd=BASE_DIR, capture_output=True, text=True, timeout=120)


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return python("manage.py", *args, env=env)


def test_check_deploy_is_clean_with_the_production_variables():
    env = {**PRODUCTION_ENV, "DJANGO_SECRET_KEY": secrets.token_urlsafe(50)}
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    result = manage("check", "--deploy", env=PRODUCTION_ENV)
    assert result.returncode != 0
    assert "Set the DJANGO_SECRET_KEY environment variable" in result.stderr


def test_probes_answer_over_plain_http_while_pages_redirect_to_https():
    """Health checks and the scraper reach the app directly inside the network, without TLS."""
    script = (
        "import django; django.setup(); from django.test import Client; c = Client();"
        "print(c.get('/healthz', HTTP_HOST='localhost').status_code,"
        " c.get('/accounts/login/', HTTP_HOST='blog.example.com')['Location'])"
    )
    env = {**PRODUCTION_ENV, "DJANGO_SECRET_KEY": secrets.token_urlsafe(50), "DATABASE_URL": "sqlite:///:memory:"}
    result = python("-c", script, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["200", "https://blog.example.com/accounts/login/"]


def test_production_logs_one_json_object_per_line_with_the_request_id():
    """A request through the whole ASGI application, as daphne serves it, and a line logged outside any request."""
    script = """
import asyncio, logging, httpx
from blogsite.asgi import application
async def main():
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        await client.get("/healthz", headers={"X-Request-ID": "prod-1"})
asyncio.run(main())
logging.getLogger("blogsite.example").warning("Outside any request")
"""
    env = {**PRODUCTION_ENV, "DJANGO_SECRET_KEY": secrets.token_urlsafe(50), "DATABASE_URL": "sqlite:///:memory:"}
    result = python("-c", script, env=env)
    assert result.returncode == 0, result.stderr
    # Python's own warnings (whitenoise's about the static files, collected only in the image) are not log records.
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    request = next(line for line in lines if line["logger"] == "blogsite.requests")
    assert {key: request[key] for key in ("level", "request_id", "method", "path", "status")} == {
        "level": "INFO",
        "request_id": "prod-1",
        "method": "GET",
        "path": "/healthz",
        "status": 200,
    }
    assert request["message"].startswith("GET /healthz 200") and request["duration_ms"] >= 0 and request["time"]
    assert {"level": "WARNING", "logger": "blogsite.example", "message": "Outside any request"}.items() <= lines[
        -1
    ].items()
    assert "request_id" not in lines[-1]


def test_collected_scripts_import_each_other_by_their_hashed_names(tmp_path):
    """Browsers keep hashed files for good, so a script must import the module collected with it."""
    script = (
        "import django; django.setup(); from django.conf import settings;"
        f"settings.STATIC_ROOT = {str(tmp_path)!r};"
        "from django.core.management import call_command; call_command('collectstatic', '--noinput', verbosity=0)"
    )
    env = {**PRODUCTION_ENV, "DJANGO_SECRET_KEY": secrets.token_urlsafe(50), "DATABASE_URL": "sqlite:///:memory:"}
    result = python("-c", script, env=env)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
    panel = (tmp_path / manifest["js/aiwriter.js"]).read_text()
    assert f'from "./{Path(manifest["js/aiwriter-sse.js"]).name}"' in panel
