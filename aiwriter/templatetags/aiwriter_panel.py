"""What the AI panel's script needs to know, rendered into the page as JSON."""

from django import template
from django.conf import settings
from django.urls import reverse

from aiwriter.models import Action
from aiwriter.routing import SOCKET_PATH

register = template.Library()


@register.simple_tag
def aiwriter_config(*, post=None) -> dict:
    return {
        "socketPath": SOCKET_PATH,
        "streamUrl": reverse("aiwriter:stream"),
        "modelsUrl": reverse("aiwriter:models"),
        "defaultModel": settings.AIWRITER_DEFAULT_MODEL,
        "maxInputChars": settings.AIWRITER_MAX_INPUT_CHARS,
        "postId": getattr(post, "pk", None),
        # Alt text is asked for from the media library, where the image is chosen.
        "actions": [{"value": value, "label": label} for value, label in Action.choices if value != Action.ALT_TEXT],
    }
