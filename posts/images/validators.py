"""What an upload must be to enter the library: an image by its content, within the byte and pixel limits.

The name and the type a browser declares are ignored: Pillow identifies the content, and only
the formats here are tried. SVG is never one of them (it can carry scripts). Pillow's own
decompression-bomb guard (Image.MAX_IMAGE_PIXELS) stays on; the site's pixel limit is lower and
is checked from the header, before anything is decoded.
"""

from django.conf import settings
from django.core.files import File
from django.template.defaultfilters import filesizeformat
from PIL import Image as PillowImage
from PIL import UnidentifiedImageError, features

from .models import ImageFormat

# Pillow's format names for what the site accepts; AVIF only where this Pillow reads it.
PILLOW_FORMATS = {
    "JPEG": ImageFormat.JPEG,
    "PNG": ImageFormat.PNG,
    "WEBP": ImageFormat.WEBP,
    "GIF": ImageFormat.GIF,
    **({"AVIF": ImageFormat.AVIF} if features.check("avif") else {}),
}


class ImageRejected(ValueError):
    """An upload the site does not take; the message says why, for the person who sent it.

    `code`: too_large (bytes or pixels over the limits) or invalid (anything else).
    """

    def __init__(self, message: str, *, code: str = "invalid"):
        super().__init__(message)
        self.code = code


def accepted_formats_text() -> str:
    return ", ".join(ImageFormat(mime).label for mime in PILLOW_FORMATS.values())


def image_open(upload: File) -> PillowImage.Image:
    """The upload decoded by Pillow, or ImageRejected with the reason.

    Frames of an animated image count towards the pixel limit, since each is decoded in turn.
    """
    _check_bytes(upload)
    upload.seek(0)
    try:
        image = PillowImage.open(upload, formats=list(PILLOW_FORMATS))
    except UnidentifiedImageError as error:
        raise ImageRejected(
            f"“{_name(upload)}” is not an image the site accepts. Upload a {accepted_formats_text()} file."
        ) from error
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageRejected(_damaged(upload)) from error
    except PillowImage.DecompressionBombError as error:
        raise ImageRejected(_too_many_pixels(upload), code="too_large") from error
    width, height = image.size
    if width * height * getattr(image, "n_frames", 1) > settings.IMAGE_MAX_PIXELS:
        raise ImageRejected(_too_many_pixels(upload, width=width, height=height), code="too_large")
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, PillowImage.DecompressionBombError) as error:
        raise ImageRejected(_damaged(upload)) from error
    return image


def mime_type_of(image: PillowImage.Image) -> str:
    return PILLOW_FORMATS[image.format]


def _check_bytes(upload: File) -> None:
    limit = settings.IMAGE_MAX_BYTES
    if upload.size is None or upload.size > limit:
        raise ImageRejected(
            f"“{_name(upload)}” is {filesizeformat(upload.size or 0)}; images may be at most {filesizeformat(limit)}. "
            "Make it smaller or save it with more compression, then upload it again.",
            code="too_large",
        )
    if upload.size == 0:
        raise ImageRejected(f"“{_name(upload)}” is empty.")


def _too_many_pixels(upload: File, *, width: int | None = None, height: int | None = None) -> str:
    size = f" ({width:,} × {height:,} pixels)" if width else ""
    megapixels = settings.IMAGE_MAX_PIXELS / 1_000_000
    return (
        f"“{_name(upload)}” has too many pixels{size}; images may have at most {megapixels:g} million. "
        "Scale it down and upload it again."
    )


def _damaged(upload: File) -> str:
    return f"“{_name(upload)}” is damaged or incomplete and cannot be read as an image."


def _name(upload: File) -> str:
    return (getattr(upload, "name", "") or "The file").rsplit("/", 1)[-1][:120]
