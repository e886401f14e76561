import pytest
from asgiref.sync import async_to_sync

from aiwriter import services
from aiwriter.actions import REWRITE_PRESETS
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


@pytest.mark.django_db
@pytest.mark.parametrize("preset", list(REWRITE_PRESETS))
def test_each_preset_becomes_the_rewrites_instruction(author, preset):
    request = GenerationRequest(request_id="r1", action="rewrite", text="The passage.", options={"preset": preset})

    prepared = async_to_sync(services.generation_prepare)(user=author, request=request)

    prompt = prepared.completion.messages[-1]["content"]
    assert prompt == f"Instruction: {REWRITE_PRESETS[preset].instruction}\n\nPassage to rewrite:\nThe passage."


def test_presets_differ_so_each_asks_for_something_else():
    instructions = {preset.instruction for preset in REWRITE_PRESETS.values()}
    assert len(instructions) == len(REWRITE_PRESETS)
    assert {"shorter", "longer", "simpler", "fix_grammar"} <= set(REWRITE_PRESETS)
    assert any(name.startswith("tone_") for name in REWRITE_PRESETS)
