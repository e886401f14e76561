"""The editor's JSON endpoints refuse hostile JSON with a 400 and a message, never a 500."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from posts import services
from posts.models import Post

URLS = ("editor:autosave", "editor:preview")


@pytest.fixture
def client(author) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(author)
    return client


def post_raw(client: Client, url: str, body: bytes | str):
    return client.post(reverse(url), data=body, content_type="application/json")


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("[" * 100_000, "nested too deeply"),
        ('{"a": ' * 50_000 + "1" + "}" * 50_000, "nested too deeply"),
        (json.dumps({"body": "x", "post_id": 2**70}), "64 bits"),
        (json.dumps({"body": "x", "version": -(2**70)}), "64 bits"),
    ],
)
def test_hostile_json_is_a_400_with_a_message(client, url, body, fragment):
    response = post_raw(client, url, body)
    assert response.status_code == 400
    assert fragment in response.json()["error"]
    assert not Post.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"title": ["A", "list"]}, "title"),
        ({"title": "T", "body": {"an": "object"}}, "body"),
        ({"title": "T", "tags": [["nested"]]}, "tags"),
        ({"title": "T", "slug": {"a": 1}}, "slug"),
    ],
)
def test_autosave_refuses_lists_and_objects_where_text_belongs(client, payload, field):
    response = post_raw(client, "editor:autosave", json.dumps(payload))
    assert response.status_code == 400
    assert field in response.json()["error"]
    assert not Post.objects.exists()


def test_autosave_still_takes_tags_as_a_list_of_names(client, author):
    response = post_raw(client, "editor:autosave", json.dumps({"title": "T", "tags": ["Python", "Django"]}))
    assert response.status_code == 201
    assert sorted(Post.objects.get().tags.values_list("name", flat=True)) == ["Django", "Python"]


def test_preview_refuses_an_object_where_the_body_belongs(client):
    response = post_raw(client, "editor:preview", json.dumps({"body": {"an": "object"}}))
    assert response.status_code == 400
    assert "body" in response.json()["error"]


def test_autosave_with_a_huge_post_number_is_refused_not_looked_up(client, author):
    services.post_create(author=author, data={"title": "Mine", "body": "One"})
    response = post_raw(client, "editor:autosave", json.dumps({"post_id": 2**64, "version": 1, "title": "x"}))
    assert response.status_code == 400
