"""Alt-text jobs: the library images without alt text, described by a vision model one by one.

A job covers the images the user may manage that have no alt text when it starts, and fills only
empty fields: an image someone described meanwhile is left as it is. The text is written through
the media library's own service, so the pages that show the image are refreshed as after an
edit by hand. The model is the site's default when it reads images, else the first model the
engines say reads images.
"""

from django.conf import settings

from posts.images.models import Image
from posts.images.permissions import can_manage_image
from posts.images.services import image_update

from .. import gateway
from ..gateway.request import HostModels


class AltTextJobError(Exception):
    """An alt-text job that cannot start or an image that cannot be written; the message says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


NO_VISION_MODEL = (
    "None of the AI models the site can reach reads images, so none can write alt text. "
    "An administrator can add one (the README says how)."
)


def images_for_job(*, user, missing: bool, ids: list[int] | None, overwrite: bool) -> list[Image]:
    """The library images a job for `user` covers: all theirs (an editor: all) without alt text."""
    if overwrite:
        raise AltTextJobError("Alt-text jobs fill only images without alt text; written alt text is never replaced.")
    if ids or not missing:
        raise AltTextJobError(
            "An alt-text job covers every image in your media library without alt text, not chosen posts: "
            "run it on all that are missing it."
        )
    images = list(Image.objects.visible_to(user).filter(alt_text="").order_by("pk"))
    if not images:
        raise AltTextJobError("Every image in your media library has alt text: there is nothing to do.")
    if len(images) > settings.AIWRITER_BATCH_MAX_POSTS:
        raise AltTextJobError(
            f"{len(images)} images have no alt text, and a job may cover at most "
            f"{settings.AIWRITER_BATCH_MAX_POSTS}. Describe some in the media library first."
        )
    return images


async def vision_model() -> str | None:
    """The model an alt-text job asks: the default where it reads images, else the first that does."""
    default = settings.AIWRITER_DEFAULT_MODEL
    if await gateway.model_sees_images(default):
        return default
    return first_vision_model(await gateway.models_list())


def first_vision_model(hosts: list[HostModels]) -> str | None:
    names = sorted({model.name for host in hosts for model in host.models if model.vision})
    return names[0] if names else None


def alt_text_fill(*, image_id: int, by, text: str) -> Image:
    """Write the image's alt text if it still has none; call inside the transaction that marks the item.

    Raises AltTextJobError when the image is gone, was described meanwhile, or is no longer the
    user's to change.
    """
    image = Image.objects.select_for_update().filter(pk=image_id).first()
    if image is None:
        raise AltTextJobError("Image deleted.")
    if image.alt_text:
        raise AltTextJobError("Someone wrote alt text for this image meanwhile; left as it is.")
    if not can_manage_image(by, image):
        raise AltTextJobError("You can no longer change this image.")
    return image_update(image=image, by=by, title=image.title, alt_text=text)
