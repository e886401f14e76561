"""JSON for the post editor's alt-text panel: the body's images that have no alt text, and the
alt text an editor accepted, written to the media library (the page shows it wherever the
Markdown gives none)."""

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from blogsite.json_input import JsonInputError, json_parse
from posts.images.models import Image
from posts.images.selectors import image_get_visible
from posts.images.services import image_update

from . import alt_text
from .refusals import json_refusal, user_refusal

MAX_ALT_TEXT_CHARS = Image._meta.get_field("alt_text").max_length


def _text_field(body: bytes, name: str) -> str:
    """The named text of a JSON object body; raises ValueError with what to send."""
    try:
        data = json_parse(body or b"null")
    except JsonInputError as error:
        raise ValueError(str(error)) from None
    if not isinstance(data, dict) or not isinstance(data.get(name), str):
        raise ValueError(f'Send a JSON object with the {name.replace("_", " ")} as text: {{"{name}": "…"}}.')
    return data[name]


def image_json(image: Image) -> dict:
    return {"id": image.pk, "title": str(image), "url": image.url, "alt_text": image.alt_text}


@never_cache
@require_POST
def body_images(request: HttpRequest) -> JsonResponse:
    """The images the posted body shows that readers would get no alt text for."""
    refusal = user_refusal(request.user)
    if refusal:
        return refusal
    try:
        body = _text_field(request.body, "body")
    except ValueError as error:
        return json_refusal("invalid", str(error), 400)
    images = alt_text.body_images_without_alt(user=request.user, body=body)
    return JsonResponse({"images": [image_json(image) for image in images]})


@never_cache
@require_POST
def image_alt_text_save(request: HttpRequest, image_id: int) -> JsonResponse:
    """Keep the alt text the editor accepted in the media library."""
    refusal = user_refusal(request.user)
    if refusal:
        return refusal
    image = image_get_visible(user=request.user, pk=image_id)
    if image is None:
        return json_refusal("not_found", alt_text.NO_SUCH_IMAGE, 404)
    try:
        text = " ".join(_text_field(request.body, "alt_text").split())
    except ValueError as error:
        return json_refusal("invalid", str(error), 400)
    if not text or len(text) > MAX_ALT_TEXT_CHARS:
        return json_refusal(
            "invalid", f"Alt text is 1 to {MAX_ALT_TEXT_CHARS:,} characters; this is {len(text):,}.", 400
        )
    try:
        image = image_update(image=image, by=request.user, title=image.title, alt_text=text)
    except PermissionDenied as denied:
        return json_refusal("forbidden", str(denied), 403)
    return JsonResponse({"image": image_json(image)})
