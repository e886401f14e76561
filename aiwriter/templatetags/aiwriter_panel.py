"""What the AI panel's script needs to know, rendered into the page as JSON."""

from django import template
from django.conf import settings
from django.urls import reverse

from aiwriter.actions import preset_choices
from aiwriter.models import Action
from aiwriter.routing import SOCKET_PATH
from posts.editor_forms import MAX_TAGS, TAG_MAX_CHARS

register = template.Library()


@register.simple_tag
def aiwriter_config(*, post=None) -> dict:
    return {
        "socketPath": SOCKET_PATH,
        "streamUrl": reverse("aiwriter:stream"),
        "modelsUrl": reverse("aiwriter:models"),
        "chatUrl": reverse("aiwriter:chat"),
        "chatClearUrl": reverse("aiwriter:chat_clear"),
        "defaultModel": settings.AIWRITER_DEFAULT_MODEL,
        "maxInputChars": settings.AIWRITER_MAX_INPUT_CHARS,
        "postId": getattr(post, "pk", None),
        # Alt text is asked for from the media library, where the image is chosen.
        "actions": [{"value": value, "label": label} for value, label in Action.choices if value != Action.ALT_TEXT],
        "presets": preset_choices(),
        # The other fields' limits are their maxlength attributes; a tag's are checked by the form alone.
        "tagLimits": {"count": MAX_TAGS, "chars": TAG_MAX_CHARS},
    }
