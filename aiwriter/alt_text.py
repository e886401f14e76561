"""Alt text from vision models: the library image an `alt_text` request names, made ready for the model.

The image is read through Django's storage (the file system or S3-compatible object storage),
turned upright, flattened onto white and made at most `MAX_SIDE` pixels a side as a JPEG: vision
models look at far fewer pixels than a photo has, and a smaller image is a smaller request. The
prompt then carries the image itself, so the response cache and the audit record's input hash
tell one image from another by its content, whatever its id or name.
"""

import asyncio
import io
import logging
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from PIL import Image as Picture
from PIL import ImageOps, UnidentifiedImageError

from posts.images.alt_text import body_image_keys_without_alt
from posts.images.models import Image
from posts.images.renditions import flatten_on_white
from posts.images.selectors import image_get_visible

from . import gateway
from .engines import image_part
from .protocol import GenerationRequest, RequestRefused

logger = logging.getLogger(__name__)

MAX_SIDE = 1024
JPEG_QUALITY = 85
NO_SUCH_IMAGE = "That image is not in your media library, or you cannot use it."
UNREADABLE = "The image's file could not be read. Upload the image again, then ask for alt text."


@dataclass(frozen=True, slots=True)
class ImageForModel:
    """The image as the model receives it."""

    data: bytes
    width: int
    height: int
    media_type: str = "image/jpeg"


async def messages_with_image(*, user, request: GenerationRequest, messages: list[dict]) -> list[dict]:
    """The messages with the request's image on the last one. Raises RequestRefused when the user
    may not use the image or it cannot be read."""
    image = await sync_to_async(image_get_visible)(user=user, pk=request.image_id)
    if image is None:
        raise RequestRefused("invalid", NO_SUCH_IMAGE, request_id=request.request_id)
    try:
        picture = await asyncio.to_thread(image_for_model, image)
    except (OSError, UnidentifiedImageError, Picture.DecompressionBombError):
        logger.warning("Image %s (%s) could not be read for alt text", image.pk, image.file.name, exc_info=True)
        raise RequestRefused("invalid", UNREADABLE, request_id=request.request_id) from None
    *earlier, last = messages
    return [*earlier, {**last, "images": [image_part(picture.data, media_type=picture.media_type)]}]


async def model_check(*, model: str, request_id: str) -> None:
    """Refuse a model the engines say reads text only, before anything is sent.

    Asked of the gateway of the loop the editor's request runs on; a batch job picks a model
    that reads images itself (jobs/alt_text.py). Where no engine can say, the engine's own
    answer decides.
    """
    if await gateway.model_sees_images(model) is False:
        raise RequestRefused("invalid", text_only_message(model), request_id=request_id)


def text_only_message(model: str) -> str:
    return (
        f"The model {model} reads text only, so it cannot describe an image. "
        "Pick a model marked “reads images” in the model list."
    )


def body_images_without_alt(*, user, body: str) -> list[Image]:
    """The library images the Markdown shows without alt text of its own whose library entry has
    none either, among those the user may use: what readers of the post would get no description of."""
    keys = body_image_keys_without_alt(body)
    return list(Image.objects.visible_to(user).filter(key__in=keys, alt_text="").order_by("pk"))


def image_for_model(image: Image) -> ImageForModel:
    """The image's file, upright, as an RGB JPEG at most MAX_SIDE pixels a side (the first frame
    of an animation). Pillow's guard against decompression bombs stays on."""
    storage = image.file.storage
    with storage.open(image.file.name, "rb") as file, Picture.open(file) as picture:
        picture.draft("RGB", (MAX_SIDE, MAX_SIDE))
        upright = ImageOps.exif_transpose(picture)
        upright.thumbnail((MAX_SIDE, MAX_SIDE))
        flat = _on_white(upright)
    buffer = io.BytesIO()
    flat.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return ImageForModel(data=buffer.getvalue(), width=flat.width, height=flat.height)


def _on_white(picture: Picture.Image) -> Picture.Image:
    """RGB for the JPEG: transparent parts become white, as a page behind the image would show them."""
    if picture.mode in ("RGBA", "LA", "PA") or (picture.mode == "P" and "transparency" in picture.info):
        return flatten_on_white(picture)
    return picture.convert("RGB")
