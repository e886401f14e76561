import pytest
from asgiref.sync import async_to_sync

from aiwriter import services
from aiwriter.protocol import GenerationRequest
from posts.models import PostStatus
from tests.factories import PostFactory, TagFactory


@pytest.mark.django_db
def test_the_tags_prompt_names_tags_on_public_posts_and_the_authors_own_only(author, other_author):
    PostFactory(author=other_author, tags=[TagFactory(name="Public topic")])
    PostFactory(author=other_author, status=PostStatus.DRAFT, published_at=None, tags=[TagFactory(name="Secret plan")])
    PostFactory(author=author, status=PostStatus.DRAFT, published_at=None, tags=[TagFactory(name="My own draft")])
    request = GenerationRequest(request_id="r1", action="tags", text="A body about Python.")

    prepared = async_to_sync(services.generation_prepare)(user=author, request=request)

    prompt = "\n".join(message["content"] for message in prepared.completion.messages)
    assert "My own draft, Public topic" in prompt
    assert "Secret plan" not in prompt
