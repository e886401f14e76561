"""Reads for the AI writer: prompts, posts an editor may work on, chat history."""

import time

from django.conf import settings
from django.db.models.signals import post_delete, post_save

from posts.models import Post

from .default_prompts import DEFAULT_PROMPTS
from .models import ChatMessage, PromptTemplate

# Every generation needs its prompt before the first token, and a query for it waits for a thread of
# Django's. The prompts change rarely (staff, in the admin), so each process keeps them for a few
# seconds; a save in this process drops them at once.
PROMPT_CACHE_SECONDS = 10
_prompt_cache: dict[str, tuple[float, tuple[str, str]]] = {}


async def prompt_for_action(*, action: str) -> tuple[str, str]:
    """The (system, template) pair for an action: the admin's row, else the built-in default."""
    entry = _prompt_cache.get(action)
    if entry is not None and entry[0] >= time.monotonic():
        return entry[1]
    row = await PromptTemplate.objects.filter(action=action).values_list("system", "template").afirst()
    if row is None:
        default = DEFAULT_PROMPTS[action]
        row = default["system"], default["template"]
    _prompt_cache[action] = (time.monotonic() + PROMPT_CACHE_SECONDS, tuple(row))
    return tuple(row)


def prompt_cache_clear(**kwargs) -> None:
    """Forget the cached prompts, so the next generation reads the admin's current text."""
    _prompt_cache.clear()


post_save.connect(prompt_cache_clear, sender=PromptTemplate, dispatch_uid="aiwriter-prompt-cache-save")
post_delete.connect(prompt_cache_clear, sender=PromptTemplate, dispatch_uid="aiwriter-prompt-cache-delete")


async def post_for_ai(*, user, post_id: int) -> Post | None:
    """The post if the user may edit it; None when it does not exist or is someone else's."""
    return await Post.objects.editable_by(user).filter(pk=post_id).afirst()


def _chat_newest(*, user, post: Post | None):
    """The editor's newest messages about a post, newest first, as many as a conversation keeps."""
    limit = settings.AIWRITER_CHAT_HISTORY_MESSAGES
    return ChatMessage.objects.filter(user=user, post=post).order_by("-created_at", "-pk")[:limit]


async def chat_history(*, user, post: Post | None) -> list[dict[str, str]]:
    """The newest turns of the editor's conversation about a post that fit the prompt, oldest first.

    Whole turns are dropped from the oldest end so the model never sees half a message, and the
    history starts with the editor's turn, as chat models expect.
    """
    newest = _chat_newest(user=user, post=post)
    budget = settings.AIWRITER_CHAT_HISTORY_CHARS
    kept: list[dict[str, str]] = []
    async for message in newest:
        budget -= len(message.content)
        if budget < 0:
            break
        kept.append({"role": message.role, "content": message.content})
    kept.reverse()
    while kept and kept[0]["role"] != "user":
        kept.pop(0)
    return kept


async def chat_transcript(*, user, post: Post | None) -> list[dict[str, str]]:
    """The conversation the editor's next chat message continues, oldest first, for the panel to show."""
    newest = _chat_newest(user=user, post=post)
    messages = [
        {"role": message.role, "content": message.content, "created_at": message.created_at.isoformat()}
        async for message in newest
    ]
    messages.reverse()
    return messages
