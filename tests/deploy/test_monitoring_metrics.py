"""Every metric the Grafana dashboard and the alert rules query is one the site's /metrics exports.

The site gets real traffic first, in this process: reader pages through the whole ASGI application
(page cache included), AI generations over Server-Sent Events against two simulated engines (one
of each dialect) that answer, repeat from the response cache, fail, and refuse as busy; a batch job
started over HTTP, whose dispatch waits in Celery's `ai` queue (the batch job and Celery figures are
read from the database and the broker at the scrape); and reader pages while Redis is down. Then
/metrics is scraped, and each metric name in each query must have samples there (a histogram's
_bucket, _count and _sum are samples of their own). Prometheus's `up` is the one series no /metrics
exports.
"""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient, Client
from prometheus_client.parser import text_string_to_metric_families

from blogsite.asgi import django_asgi_app
from posts.page_cache import PageCacheMiddleware
from tests.aiwriter.conftest import backend_of
from tests.aiwriter.fixtures import generate_message, parse_sse, shared_clients, transactional  # noqa: F401 (fixture)
from tests.deploy.monitoring import PROMETHEUS_OWN, dashboard_queries, metric_names, rule_queries
from tests.engine_simulator import EngineSimulator
from tests.factories import PostFactory
from tests.posts.readers import site, x_cache
from tests.redis_server import start_redis, stop_redis

pytestmark = [transactional, pytest.mark.usefixtures("shared_clients")]

STREAM_URL = "/aiwriter/stream/"


@pytest.fixture
def engines(settings):
    """An Ollama and an OpenAI-compatible simulator; one generation upstream at a time and no wait queue."""
    simulators = [EngineSimulator(dialect=dialect).start() for dialect in ("ollama", "openai")]
    settings.AIWRITER_BACKENDS = [backend_of(simulator) for simulator in simulators]
    settings.AIWRITER_TIMEOUTS = {"connect": 1.0, "first_token": 2.0, "idle": 2.0, "total": 10.0}
    settings.AIWRITER_RATE_LIMIT = 1000
    settings.AIWRITER_RETRY_BACKOFF = 0.01
    settings.AIWRITER_HEALTH_INTERVAL = 0
    settings.AIWRITER_MAX_IN_FLIGHT = 1
    settings.AIWRITER_QUEUE_SIZE = 0
    yield simulators
    for simulator in simulators:
        simulator.stop()


def scrape() -> set[str]:
    """The names of the samples /metrics shows now."""
    response = Client().get("/metrics")
    assert response.status_code == 200
    return {
        sample.name for family in text_string_to_metric_families(response.content.decode()) for sample in family.samples
    }


async def read_pages(post) -> None:
    async with site() as client:
        assert [await x_cache(client, post.get_absolute_url()) for _ in range(3)] == ["MISS", "HIT", "HIT"]
        for path in ("/", "/feed/", f"/search/?q={post.title.split()[0]}"):
            assert (await client.get(path)).status_code == 200
        assert (await client.get("/posts/no-such-post/")).status_code == 404


async def generate(client: AsyncClient, request_id: str, text: str) -> list[dict]:
    message = generate_message(request_id, action="summarize", text=text)
    response = await client.post(STREAM_URL, data=json.dumps(message), content_type="application/json")
    if not response.streaming:
        return parse_sse(response.content)
    return parse_sse(b"".join([part async for part in response.streaming_content]))


async def generate_while_another_streams(client: AsyncClient) -> list[dict]:
    """A generation sent while another holds the only slot upstream: refused as busy."""
    message = generate_message("holding", action="summarize", text="A long body about coffee.")
    response = await client.post(STREAM_URL, data=json.dumps(message), content_type="application/json")
    parts = aiter(response.streaming_content)
    held = []
    while not any(event["type"] == "chunk" for event in held):
        held += parse_sse(await anext(parts))
    refused = await generate(client, "refused", "Another body, about tea.")
    held += parse_sse(b"".join([part async for part in parts]))
    assert held[-1]["type"] == "done", held[-1]
    return refused


async def use_the_ai_writer(author, engines) -> None:
    client = AsyncClient()
    await client.aforce_login(author)
    first = await generate(client, "r1", "A body about tea.")
    again = await generate(client, "r2", "A body about tea.")
    assert (first[-1]["type"], first[-1]["cached"], again[-1]["cached"]) == ("done", False, True)

    refused = await generate_while_another_streams(client)
    assert refused[-1]["type"] == "error" and refused[-1]["code"] == "busy", refused

    for simulator in engines:
        simulator.fail_with(500, times=1)
    failed = await generate(client, "r3", "A body about water.")
    assert failed[-1]["type"] == "error", failed


def start_a_batch_job(author, post) -> None:
    client = Client()
    client.force_login(author)
    body = json.dumps({"action": "summarize", "post_ids": [post.pk]})
    response = client.post("/aiwriter/jobs/", body, content_type="application/json")
    assert response.status_code == 202, response.content


async def read_pages_while_redis_is_down(settings, post) -> None:
    """Pages still come, rendered by Django; the page cache and Django's cache reads count the failures."""
    process, port = start_redis()
    saved = settings.CACHES
    url = f"redis://127.0.0.1:{port}/0"
    settings.CACHES = {alias: {**config, "LOCATION": url} for alias, config in saved.items()}
    layer = PageCacheMiddleware(django_asgi_app)
    try:
        stop_redis(process)
        async with site(app=layer) as client:
            for path in (post.get_absolute_url(), "/"):
                response = await client.get(path)
                assert (response.status_code, response.headers["x-cache"]) == (200, "MISS")
    finally:
        settings.CACHES = saved


async def test_every_dashboard_and_alert_query_reads_metrics_the_site_exports(author, settings, engines):
    post = await asyncio.to_thread(PostFactory, author=author, title="Measured tea")
    await read_pages(post)
    await use_the_ai_writer(author, engines)
    await sync_to_async(start_a_batch_job)(author, post)
    await read_pages_while_redis_is_down(settings, post)
    exported = await asyncio.to_thread(scrape)

    queries = dashboard_queries() + rule_queries()
    missing = {
        query.where: sorted(metric_names(query.expr) - exported - PROMETHEUS_OWN)
        for query in queries
        if metric_names(query.expr) - exported - PROMETHEUS_OWN
    }
    assert not missing, "queries of metrics /metrics does not export:\n" + "\n".join(
        f"  {where}: {', '.join(names)}" for where, names in missing.items()
    )
    assert len(queries) > 40  # the dashboard's panels and variables, and the alert rules
