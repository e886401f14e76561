import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from posts import services
from tests.factories import CommentFactory, PostFactory
from tests.posts.readers import site

BASE_DIR = Path(__file__).resolve().parents[2]


def scrape(client) -> dict[tuple[str, frozenset], float]:
    """Every sample /metrics shows, keyed by name and labels."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def growth(before: dict, after: dict, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_metrics_show_requests_database_cache_and_model_operations(client, db, author, editor, reader):
    before = scrape(client)
    post = services.post_create(author=author, data={"title": "Measured", "body": "Counted."})
    services.post_publish(post=post, by=editor)
    CommentFactory(post=post, author=reader)
    client.force_login(reader)  # sessions live in the cache, so each request reads it
    assert client.get(post.get_absolute_url()).status_code == 200
    assert client.get("/posts/no-such-post/").status_code == 404
    after = scrape(client)

    detail = {"view": "posts:detail", "method": "GET"}
    by_view = "django_http_requests_total_by_view_transport_method_total"
    database = {"alias": "default", "vendor": connection.vendor}

    assert growth(before, after, by_view, transport="http", **detail) == 2
    assert growth(before, after, "django_http_responses_total_by_status_total", status="404") == 1
    assert growth(before, after, "django_http_requests_latency_seconds_by_view_method_count", **detail) >= 2
    assert growth(before, after, "django_db_execute_total", **database) > 0
    assert growth(before, after, "django_db_query_duration_seconds_count", **database) > 0
    assert growth(before, after, "django_cache_get_total", backend="redis") >= 2
    assert growth(before, after, "django_cache_get_hits_total", backend="redis") >= 2
    assert growth(before, after, "django_model_inserts_total", model="post") == 1
    assert growth(before, after, "django_model_updates_total", model="post") == 1
    assert growth(before, after, "django_model_inserts_total", model="comment") == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # roles come from a data migration
async def test_metrics_count_page_cache_hits_and_misses_by_kind_of_page():
    post = await asyncio.to_thread(PostFactory)
    async with site() as client:
        before = await asyncio.to_thread(scrape, Client())
        for _ in range(3):
            assert (await client.get(post.get_absolute_url())).status_code == 200
        after = await asyncio.to_thread(scrape, Client())
    assert growth(before, after, "blogsite_page_cache_misses_total", kind="post") == 1
    assert growth(before, after, "blogsite_page_cache_hits_total", kind="post") == 2


def test_protected_metrics_refuse_unknown_addresses_and_accept_the_token(client, settings):
    settings.METRICS_REQUIRE_AUTH = True
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8", "2001:db8::/32"]
    settings.METRICS_TOKEN = "scrape-secret"

    refused = client.get("/metrics", REMOTE_ADDR="192.0.2.7")
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"].startswith("Bearer")
    assert b"METRICS_TOKEN" in refused.content
    assert b"django_http" not in refused.content
    # A forwarded-for header is set by the client and does not count.
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7", HTTP_X_FORWARDED_FOR="10.1.1.1").status_code == 401
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401

    assert client.get("/metrics", REMOTE_ADDR="10.20.30.40").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="2001:db8::5").status_code == 200
    granted = client.get("/metrics", REMOTE_ADDR="192.0.2.7", HTTP_AUTHORIZATION="Bearer scrape-secret")
    assert granted.status_code == 200
    assert b"django_http_requests_before_middlewares_total" in granted.content


def test_protected_metrics_without_a_token_refuse_with_403(client, settings):
    settings.METRICS_REQUIRE_AUTH = True
    settings.METRICS_ALLOWED_IPS = []
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403


def test_production_settings_protect_metrics():
    """The production settings module itself, loaded in a fresh interpreter."""
    script = (
        "import django; django.setup(); from django.test import Client; c = Client();"
        "print(c.get('/metrics', secure=True, REMOTE_ADDR='203.0.113.9').status_code,"
        " c.get('/metrics', secure=True, REMOTE_ADDR='203.0.113.9', HTTP_AUTHORIZATION='Bearer t0ken').status_code,"
        " c.get('/metrics', secure=True, REMOTE_ADDR='192.168.5.5').status_code)"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "blogsite.settings.production",
        "DJANGO_SECRET_KEY": "production-test-key-" + "x" * 40,
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "METRICS_TOKEN": "t0ken",
        "METRICS_ALLOWED_IPS": "192.168.0.0/16",
    }
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=BASE_DIR, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["401", "200", "200"]
