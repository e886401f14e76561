"""Fitting a prompt into the model's context window, so that no editor's text is cut silently.

Ollama drops the start of a prompt longer than its context window (2,048 tokens by default)
without an error. The gateway asks for a window that holds the prompt and the reply's budget,
within what the model supports, or refuses before generating. The window is a power of two, so
that Ollama, which loads a model again for each window size, sees only a few sizes.
"""

import math
from collections.abc import Mapping
from typing import Any

from ..engines import ContextTooLong, ModelDetails
from ..engines.types import message_images

# Tokens are counted before any tokenizer sees the text: about 4 characters make a token in
# English prose, fewer in code and other languages, so 3 errs on the side of a bigger window.
CHARS_PER_TOKEN = 3
TOKENS_PER_MESSAGE = 8
# What an image sent at up to 1,024 pixels a side takes: from 256 tokens (Gemma 3) through 576
# (LLaVA 1.5) to over a thousand (Qwen2.5-VL at that size).
IMAGE_TOKENS = 1280
DEFAULT_REPLY_TOKENS = 1024
# The least room for a reply that is worth generating.
MIN_REPLY_TOKENS = 64
SMALLEST_WINDOW = 2048


def prompt_tokens(messages: list[Mapping[str, str]]) -> int:
    """A generous estimate of the tokens the messages take, their images included."""
    return sum(
        math.ceil(len(m.get("content", "")) / CHARS_PER_TOKEN)
        + TOKENS_PER_MESSAGE
        + IMAGE_TOKENS * len(message_images(m))
        for m in messages
    )


def fitted_options(
    *, model: str, messages: list[Mapping[str, str]], options: Mapping[str, Any], details: ModelDetails
) -> dict[str, Any]:
    """The options with `num_ctx` and `num_predict` set to fit; raises ContextTooLong when nothing fits."""
    fitted = dict(options)
    limit = details.context_length
    if limit is None:
        return fitted
    needed = prompt_tokens(messages)
    room = limit - needed
    if room < MIN_REPLY_TOKENS:
        raise ContextTooLong(too_long_message(model=model, limit=limit, needed=needed))
    reply = fitted.get("num_predict")
    reply = DEFAULT_REPLY_TOKENS if not isinstance(reply, int) or reply <= 0 else reply
    fitted["num_predict"] = min(reply, room)
    fitted["num_ctx"] = min(limit, max(SMALLEST_WINDOW, 2 ** math.ceil(math.log2(needed + fitted["num_predict"]))))
    return fitted


def too_long_message(*, model: str, limit: int, needed: int) -> str:
    words = round((limit - MIN_REPLY_TOKENS) * CHARS_PER_TOKEN / 6, -2)
    return (
        f"This text is too long for the model {model}: it reads at most {limit:,} tokens at once "
        f"(about {words:,.0f} words), and this request needs about {needed:,}. "
        "Select a part of the text, or pick a model with a larger context window."
    )
