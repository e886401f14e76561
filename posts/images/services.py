"""Writes to the media library: uploads, edits, deletions, covers and where images are used.

Each change readers could see sends its event (posts.events): the page cache (posts/signals.py)
refreshes the pages that show the image. Files are written through the `default` storage
(settings.STORAGES); a file is removed only once the deletion of its row is committed.
"""

import re
import secrets
import uuid
from collections.abc import Iterable
from functools import partial

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Sum
from django.template.defaultfilters import filesizeformat

from accounts import throttle

from .. import events
from ..models import Post
from ..permissions import can_edit_post
from . import renditions, selectors
from .models import Image, ImageRole, ImageUse, UploadQuota, image_file_name
from .permissions import can_manage_image, can_upload_images
from .validators import ImageRejected, image_open, mime_type_of

# A library image's address as Markdown holds it: …/images/<2 hex>/<32 hex key>.<ext>, whatever the storage's host.
IMAGE_URL_KEY = re.compile(r"/images/[0-9a-f]{2}/([0-9a-f]{32})[A-Za-z0-9_-]*\.(?:jpg|png|webp|gif|avif)\b")


class ImageError(Exception):
    """An image write that cannot be done; the message is meant for the person who asked.

    `code` is for JSON clients: invalid, too_large, rate_limited, quota.
    """

    def __init__(self, message: str, *, code: str = "invalid"):
        super().__init__(message)
        self.code = code


class ImageInUse(ImageError):
    """Deleting an image that posts show needs a confirmation; `posts` are those posts."""

    def __init__(self, posts: list[Post]):
        self.posts = posts
        titles = ", ".join(f"“{post.title}”" for post in posts[:5]) + (" and others" if len(posts) > 5 else "")
        super().__init__(f"This image is used in {titles}. Deleting it leaves a missing picture there.", code="in_use")


def _require(allowed: bool, message: str) -> None:
    if not allowed:
        raise PermissionDenied(message)


def quota_bytes(user) -> int:
    """What a person may keep in the library: their own quota when staff set one, else the site's."""
    quota = UploadQuota.objects.filter(user=user).values_list("max_bytes", flat=True).first()
    return settings.IMAGE_UPLOAD_QUOTA_BYTES if quota is None else quota


def bytes_used(user) -> int:
    return Image.objects.filter(uploaded_by=user).aggregate(total=Sum("file_size"))["total"] or 0


def image_upload(*, file: File, by, title: str = "", alt_text: str = "") -> Image:
    """Store an uploaded image, checked, cleaned of metadata and upright, with its renditions.

    Raises ImageError (rate limit, quota, not an image, too large) with a message for the uploader.
    """
    _require(can_upload_images(by), "You are not allowed to upload images.")
    if wait := throttle.rate_limit_take(scope="image_upload", key=by.pk):
        raise ImageError(throttle.rate_limit_message("uploads", wait), code="rate_limited")
    cleaned = _cleaned_original(file)
    _check_quota(by, adding=len(cleaned.data))
    original_name = (getattr(file, "name", "") or "").rsplit("/", 1)[-1][:255]
    image = _image_store(cleaned, by=by, original_filename=original_name, title=title, alt_text=alt_text)
    renditions.renditions_create(image)
    return image


def _cleaned_original(file: File) -> renditions.Encoded:
    """The uploaded picture checked, cleaned of metadata and upright; ImageError when it is refused."""
    try:
        with image_open(file) as picture:
            return renditions.clean_original(picture, mime_type=mime_type_of(picture))
    except ImageRejected as rejected:
        raise ImageError(str(rejected), code=rejected.code) from rejected


def _check_quota(user, *, adding: int) -> None:
    quota, used = quota_bytes(user), bytes_used(user)
    if used + adding > quota:
        raise ImageError(
            f"This image ({filesizeformat(adding)}) would take you past your upload quota of "
            f"{filesizeformat(quota)}; you use {filesizeformat(used)}. Delete images you no longer need, "
            "or ask an editor for a larger quota.",
            code="quota",
        )


def _image_store(cleaned: renditions.Encoded, *, by, original_filename: str, title: str, alt_text: str) -> Image:
    key = uuid.uuid4()
    name = default_storage.save(image_file_name(key, cleaned.mime_type), ContentFile(cleaned.data))
    image = Image(
        key=key,
        file=name,
        title=" ".join((title or original_filename.rsplit(".", 1)[0]).split())[:200],
        alt_text=" ".join(alt_text.split()),
        original_filename=original_filename,
        mime_type=cleaned.mime_type,
        width=cleaned.width,
        height=cleaned.height,
        file_size=len(cleaned.data),
        animated=cleaned.animated,
        uploaded_by=by,
    )
    try:
        image.save()
    except BaseException:
        default_storage.delete(name)
        raise
    return image


@transaction.atomic
def image_update(*, image: Image, by, title: str, alt_text: str) -> Image:
    """Change what the library says of an image; pages that show it refresh when its alt text changes."""
    _require(can_manage_image(by, image), "You are not allowed to change this image.")
    alt_text = " ".join(alt_text.split())
    alt_changed = alt_text != image.alt_text
    image.title = " ".join(title.split())[:200]
    image.alt_text = alt_text
    image.save(update_fields=["title", "alt_text", "updated_at"])
    if alt_changed:
        events.image_changed.send(sender=Image, image=image)
    return image


def image_replace_file(*, image: Image, by, file: File) -> Image:
    """Give an image another picture: posts that show it show the new one, under the same address key."""
    _require(can_manage_image(by, image), "You are not allowed to change this image.")
    cleaned = _cleaned_original(file)
    if image.uploaded_by_id is not None:
        _check_quota(image.uploaded_by, adding=len(cleaned.data) - image.file_size)
    old_names = [image.file.name, *image.renditions.values_list("file", flat=True)]
    with transaction.atomic():
        image.renditions.all().delete()
        name = image_file_name(image.key, cleaned.mime_type, revision=secrets.token_hex(4))
        image.file = default_storage.save(name, ContentFile(cleaned.data))
        image.mime_type, image.width, image.height = cleaned.mime_type, cleaned.width, cleaned.height
        image.file_size, image.animated = len(cleaned.data), cleaned.animated
        image.save()
        events.image_changed.send(sender=Image, image=image)
        transaction.on_commit(partial(_files_delete, [name for name in old_names if name != image.file.name]))
    renditions.renditions_create(image)
    return image


@transaction.atomic
def image_delete(*, image: Image, by, confirmed: bool = False) -> None:
    """Delete an image and its files. One that posts show needs `confirmed`, else ImageInUse lists them."""
    _require(can_manage_image(by, image), "You are not allowed to delete this image.")
    posts = selectors.posts_using(image)
    if posts and not confirmed:
        raise ImageInUse(posts)
    names = [image.file.name, *image.renditions.values_list("file", flat=True)]
    events.image_changed.send(sender=Image, image=image)
    if image.is_site_default:
        events.site_default_image_changed.send(sender=Image)
    image.delete()
    transaction.on_commit(partial(_files_delete, names))


def _files_delete(names: Iterable[str]) -> None:
    for name in names:
        if name:
            default_storage.delete(name)


@transaction.atomic
def image_set_site_default(*, image: Image | None, by) -> None:
    """The image link previews show for posts without a cover (None: the one the site ships)."""
    _require(by.is_staff and by.has_perm("posts.change_image"), "Only staff can choose the site's default image.")
    Image.objects.filter(is_site_default=True).exclude(pk=getattr(image, "pk", None)).update(is_site_default=False)
    if image is not None:
        Image.objects.filter(pk=image.pk).update(is_site_default=True)
    events.site_default_image_changed.send(sender=Image)


@transaction.atomic
def post_cover_set(*, post: Post, image: Image | None, by) -> bool:
    """Show `image` at the top of the post and in its link previews (None: no library cover).

    False when it was the cover already.
    """
    _require(can_edit_post(by, post), "You are not allowed to edit this post.")
    current = ImageUse.objects.filter(post=post, role=ImageRole.COVER).first()
    if (current.image_id if current else None) == (image.pk if image else None):
        return False
    if image is not None:
        _require(Image.objects.visible_to(by).filter(pk=image.pk).exists(), "You cannot use this image.")
    ImageUse.objects.filter(post=post, role=ImageRole.COVER).delete()
    if image is not None:
        ImageUse.objects.create(post=post, image=image, role=ImageRole.COVER)
    events.post_cover_changed.send(sender=Post, post=post)
    return True


def image_keys_in(text: str) -> set[uuid.UUID]:
    return {uuid.UUID(match) for match in IMAGE_URL_KEY.findall(text or "")}


def post_body_uses_sync(*, post: Post) -> None:
    """Record which library images the post's Markdown shows, for "used in" and deletion warnings."""
    wanted = set(Image.objects.filter(key__in=image_keys_in(post.body)).values_list("pk", flat=True))
    uses = ImageUse.objects.filter(post=post, role=ImageRole.BODY)
    had = set(uses.values_list("image_id", flat=True))
    uses.filter(image_id__in=had - wanted).delete()
    ImageUse.objects.bulk_create(
        [ImageUse(post=post, image_id=pk, role=ImageRole.BODY) for pk in wanted - had], ignore_conflicts=True
    )
