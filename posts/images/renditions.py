"""Encoding with Pillow: the stored original without metadata, and the renditions readers get.

Each image is written again before it is stored: the EXIF orientation is applied to the pixels,
and nothing of the upload's metadata is copied (EXIF with GPS positions, XMP, comments), only
the colour profile and transparency that the picture needs. Renditions are made once, when the
image is uploaded (or, for an image that lacks them, when a page first shows it): a few widths
in the image's own format, each with a WebP copy kept only where it is smaller, and one card
for link previews (1200 × 630, the size OpenGraph and Twitter cards expect).
"""

import io
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from PIL import Image as PillowImage
from PIL import ImageOps

from .models import Image, ImageFormat, Rendition, rendition_file_name

CARD_SIZE = (1200, 630)
CARD_SPEC = "card"
# What a picture needs of Pillow's info; anything else (exif, xmp, comments, dpi, text chunks) is left out.
_KEPT_INFO = ("icc_profile", "transparency", "duration", "loop", "background", "disposal")
_PILLOW_NAMES = {
    ImageFormat.JPEG: "JPEG",
    ImageFormat.PNG: "PNG",
    ImageFormat.WEBP: "WEBP",
    ImageFormat.GIF: "GIF",
    ImageFormat.AVIF: "AVIF",
}
_QUALITY = {ImageFormat.JPEG: 85, ImageFormat.WEBP: 82, ImageFormat.AVIF: 70}


@dataclass(frozen=True, slots=True)
class Encoded:
    data: bytes
    mime_type: str
    width: int
    height: int
    animated: bool = False


def clean_original(picture: PillowImage.Image, *, mime_type: str) -> Encoded:
    """The image to store: upright, in its own format, with no metadata but its colour profile."""
    if getattr(picture, "is_animated", False):
        return _encode_animation(picture, mime_type=mime_type)
    upright = ImageOps.exif_transpose(picture)  # a copy, with the orientation applied
    upright.info = {key: value for key, value in picture.info.items() if key in _KEPT_INFO}
    return _encode(upright, mime_type=mime_type)


def _encode_animation(picture: PillowImage.Image, *, mime_type: str) -> Encoded:
    picture.info = {key: value for key, value in picture.info.items() if key in _KEPT_INFO}
    out = io.BytesIO()
    picture.save(out, format=_PILLOW_NAMES[mime_type], save_all=True, **_options(mime_type))
    width, height = picture.size
    return Encoded(out.getvalue(), mime_type, width, height, animated=True)


def _encode(picture: PillowImage.Image, *, mime_type: str) -> Encoded:
    picture = _in_mode_for(picture, mime_type)
    out = io.BytesIO()
    picture.save(out, format=_PILLOW_NAMES[mime_type], **_options(mime_type))
    return Encoded(out.getvalue(), mime_type, *picture.size)


def _options(mime_type: str) -> dict:
    options: dict = {}
    if mime_type in _QUALITY:
        options["quality"] = _QUALITY[mime_type]
    if mime_type == ImageFormat.JPEG:
        options["progressive"] = True
        options["optimize"] = True
    elif mime_type == ImageFormat.PNG:
        options["optimize"] = True
    return options


def _has_alpha(picture: PillowImage.Image) -> bool:
    return picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info


def _in_mode_for(picture: PillowImage.Image, mime_type: str) -> PillowImage.Image:
    """A copy Pillow can write in `mime_type`: JPEG has no transparency, WebP and AVIF no palette."""
    if mime_type == ImageFormat.JPEG:
        if _has_alpha(picture):
            return flatten_on_white(picture)
        return picture if picture.mode in ("RGB", "L") else picture.convert("RGB")
    if mime_type in (ImageFormat.WEBP, ImageFormat.AVIF) and picture.mode not in ("RGB", "RGBA"):
        return picture.convert("RGBA" if _has_alpha(picture) else "RGB")
    return picture


def flatten_on_white(picture: PillowImage.Image) -> PillowImage.Image:
    """RGB with the transparent parts white, as a page behind the image would show them."""
    rgba = picture.convert("RGBA")
    background = PillowImage.new("RGB", rgba.size, "white")
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def base_format(image: Image, picture: PillowImage.Image) -> str:
    """The format of an image's resized copies: its own, except GIF (PNG) and AVIF (JPEG or PNG).

    Browsers without AVIF support still get a picture; a still GIF loses nothing as PNG.
    """
    if image.mime_type == ImageFormat.GIF:
        return ImageFormat.PNG
    if image.mime_type == ImageFormat.AVIF:
        return ImageFormat.PNG if _has_alpha(picture) else ImageFormat.JPEG
    return image.mime_type


def rendition_widths(image: Image) -> list[int]:
    """The srcset widths made for an image: those narrower than it (animations are served whole)."""
    if image.animated:
        return []
    return sorted({width for width in settings.IMAGE_RENDITION_WIDTHS if 0 < width < image.width})


def renditions_create(image: Image) -> list[Rendition]:
    """Every rendition of `image` that does not exist yet, made from its stored file."""
    existing = set(image.renditions.values_list("spec", flat=True))
    with image.file.open("rb") as stored, PillowImage.open(stored) as opened:
        opened.load()
        picture = _for_resizing(opened)
        made = [*_width_renditions(image, picture, existing), *_card_rendition(image, picture, existing)]
    return [rendition for rendition in made if rendition is not None]


def _for_resizing(picture: PillowImage.Image) -> PillowImage.Image:
    """Palette and other modes resize poorly (Pillow falls back to nearest neighbour): RGB or RGBA instead."""
    if getattr(picture, "is_animated", False) or picture.mode in ("RGB", "RGBA", "L"):
        return picture
    converted = picture.convert("RGBA" if _has_alpha(picture) else "RGB")
    converted.info = {key: value for key, value in picture.info.items() if key == "icc_profile"}
    return converted


def _width_renditions(image: Image, picture: PillowImage.Image, existing: set[str]):
    """Copies at each width, and at full size up to the widest one: wider than that, pages offer the
    original as it is, and a copy of it would take seconds to encode for a size hardly ever chosen."""
    base = base_format(image, picture)
    full = [image.width] if not image.animated and image.width <= max(settings.IMAGE_RENDITION_WIDTHS) else []
    for width in [*rendition_widths(image), *full]:
        full_size = width == image.width
        height = max(1, round(image.height * width / image.width))
        resized = (
            picture if full_size else picture.resize((width, height), PillowImage.Resampling.LANCZOS, reducing_gap=3.0)
        )
        resized.info = {key: value for key, value in picture.info.items() if key == "icc_profile"}
        base_copy = None if full_size and base == image.mime_type else _encode(resized, mime_type=base)
        base_size = image.file_size if base_copy is None else len(base_copy.data)
        if base_copy is not None:
            yield _store(image, f"w{width}", base_copy, existing)
        if ImageFormat.WEBP not in (base, image.mime_type):
            webp = _encode(resized, mime_type=ImageFormat.WEBP)
            if len(webp.data) < base_size:  # WebP only where it is smaller
                yield _store(image, f"w{width}-webp", webp, existing)


def _card_rendition(image: Image, picture: PillowImage.Image, existing: set[str]):
    """The link-preview card: the middle of the picture at 1200 × 630, as JPEG (PNG with transparency).

    `reducing_gap` lets Pillow shrink a large picture in cheap steps first, with no visible difference.
    """
    if CARD_SPEC in existing:
        return
    if getattr(picture, "is_animated", False):
        picture.seek(0)
    mime_type = ImageFormat.PNG if _has_alpha(picture) else ImageFormat.JPEG
    card = picture.resize(
        CARD_SIZE, PillowImage.Resampling.LANCZOS, box=_middle(picture.size, CARD_SIZE), reducing_gap=3.0
    )
    card.info = {key: value for key, value in picture.info.items() if key == "icc_profile"}
    yield _store(image, CARD_SPEC, _encode(card, mime_type=mime_type), existing)


def _middle(size: tuple[int, int], target: tuple[int, int]) -> tuple[float, float, float, float]:
    """The largest box of the target's proportions in the middle of a picture of `size` (what ImageOps.fit crops)."""
    width, height = size
    ratio = target[0] / target[1]
    if width / height > ratio:
        kept = height * ratio
        return ((width - kept) / 2, 0, (width + kept) / 2, height)
    kept = width / ratio
    return (0, (height - kept) / 2, width, (height + kept) / 2)


def _store(image: Image, spec: str, encoded: Encoded, existing: set[str]) -> Rendition | None:
    if spec in existing:
        return None
    name = rendition_file_name(image.file.name, spec, encoded.mime_type)
    rendition = Rendition(
        image=image,
        spec=spec,
        mime_type=encoded.mime_type,
        width=encoded.width,
        height=encoded.height,
        file_size=len(encoded.data),
    )
    rendition.file.save(name, ContentFile(encoded.data), save=False)
    try:
        with transaction.atomic():
            rendition.save()
    except IntegrityError:  # another request made it meanwhile: keep theirs
        rendition.file.delete(save=False)
        return None
    return rendition
