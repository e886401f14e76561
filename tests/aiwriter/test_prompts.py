import pytest
from django.core.exceptions import ValidationError

from aiwriter.models import PromptTemplate
from aiwriter.prompts import build_messages, render, unknown_placeholders


def test_placeholders_are_filled_once_and_other_braces_are_left_alone():
    template = 'Title: {title}\nJSON example: {"a": 1}\nUnknown {colour}\n{body}'
    values = {"title": "Sets {body} in titles", "body": "The body"}
    assert (
        render(template, values) == 'Title: Sets {body} in titles\nJSON example: {"a": 1}\nUnknown {colour}\nThe body'
    )


def test_attribute_lookups_are_not_evaluated():
    assert render("{title.__class__}", {"title": "x"}) == "{title.__class__}"


def test_missing_values_render_empty():
    assert render("Instruction: {instruction}", {}) == "Instruction:"


def test_unknown_placeholders_are_listed_once_in_order():
    assert unknown_placeholders("{title} {colour} {size} {colour} {body}") == ["colour", "size"]


def test_messages_put_history_between_system_and_request():
    messages = build_messages(
        system="You help with {title}.",
        template="{instruction}",
        values={"title": "Tea", "instruction": "Shorter?"},
        history=[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
    )
    assert messages == [
        {"role": "system", "content": "You help with Tea."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Shorter?"},
    ]


def test_every_action_is_seeded_with_a_default_prompt(db):
    assert set(PromptTemplate.objects.values_list("action", flat=True)) == {
        "draft",
        "continue",
        "rewrite",
        "summarize",
        "titles",
        "meta_description",
        "tags",
        "chat",
        "alt_text",
    }


def test_a_template_with_an_unknown_placeholder_is_refused(db):
    prompt = PromptTemplate(action="draft", system="Write about {topic}.", template="{title}")
    with pytest.raises(ValidationError) as error:
        prompt.full_clean(exclude=["action"])
    assert "{topic}" in str(error.value)
