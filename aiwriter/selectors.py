"""Reads for the AI writer: prompts, posts an editor may work on, chat history."""

from django.conf import settings

from posts.models import Post

from .default_prompts import DEFAULT_PROMPTS
from .models import ChatMessage, PromptTemplate


def prompt_for_action(*, action: str) -> tuple[str, str]:
    """The (system, template) pair for an action: the admin's row, else the built-in default."""
    row = PromptTemplate.objects.filter(action=action).values_list("system", "template").first()
    if row is not None:
        return row
    default = DEFAULT_PROMPTS[action]
    return default["system"], default["template"]


def post_for_ai(*, user, post_id: int) -> Post | None:
    """The post if the user may edit it; None when it does not exist or is someone else's."""
    return Post.objects.editable_by(user).filter(pk=post_id).first()


def chat_history(*, user, post: Post | None) -> list[dict[str, str]]:
    """The newest turns of the editor's conversation about a post that fit the prompt, oldest first.

    Whole turns are dropped from the oldest end so the model never sees half a message, and the
    history starts with the editor's turn, as chat models expect.
    """
    limit = settings.AIWRITER_CHAT_HISTORY_MESSAGES
    newest = ChatMessage.objects.filter(user=user, post=post).order_by("-created_at", "-pk")[:limit]
    budget = settings.AIWRITER_CHAT_HISTORY_CHARS
    kept: list[dict[str, str]] = []
    for message in newest:
        budget -= len(message.content)
        if budget < 0:
            break
        kept.append({"role": message.role, "content": message.content})
    kept.reverse()
    while kept and kept[0]["role"] != "user":
        kept.pop(0)
    return kept
