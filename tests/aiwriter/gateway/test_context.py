"""No editor's text is cut silently: prompts fit the model's context window, or are refused first."""

import pytest

from aiwriter.engines import ContextTooLong, ModelDetails
from aiwriter.gateway.context import fitted_options
from tests.aiwriter.conftest import chat_requests
from tests.aiwriter.gateway.conftest import chat, complete

MODEL = "llama3.2:1b"


def test_the_window_holds_the_prompt_and_the_reply_budget_within_the_models_limit():
    messages = [{"role": "user", "content": "word " * 3000}]  # about 5,000 tokens by the generous count
    fitted = fitted_options(model=MODEL, messages=messages, options={"num_predict": 800}, details=ModelDetails(32768))
    assert fitted["num_ctx"] == 8192 and fitted["num_predict"] == 800


def test_a_model_that_does_not_say_its_window_gets_the_options_unchanged():
    options = {"temperature": 0.3}
    assert fitted_options(model=MODEL, messages=[], options=options, details=ModelDetails()) == options


def test_text_beyond_the_window_is_refused_with_the_limit_named():
    messages = [{"role": "user", "content": "word " * 3000}]
    with pytest.raises(ContextTooLong) as caught:
        fitted_options(model=MODEL, messages=messages, options={}, details=ModelDetails(4096))
    assert caught.value.code == "too_large" and "4,096 tokens" in caught.value.editor_message


async def test_ollama_is_asked_for_a_window_that_holds_the_whole_prompt(hosts):
    (simulator,) = hosts(1, context_length=16384)
    text, _ = await complete(chat("tea " * 2500))
    (record,) = chat_requests(simulator)
    assert text
    if simulator.dialect == "ollama":
        assert record.body["options"]["num_ctx"] >= 4096 and not record.truncated


async def test_a_prompt_the_model_cannot_read_is_refused_before_generating(hosts):
    (simulator,) = hosts(1, context_length=2048)
    with pytest.raises(ContextTooLong):
        await complete(chat("tea " * 5000))
    if simulator.dialect == "ollama":
        assert chat_requests(simulator) == [], "refused before any generation"
