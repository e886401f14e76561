"""Reads of the media library: the library's pages, a post's cover, the images a body shows."""

import logging

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from ..models import Post
from . import renditions
from .models import Image, ImageRole, ImageUse

logger = logging.getLogger(__name__)


def library_images(*, user, query: str = "", uploader: str = "", used_in: str = "") -> QuerySet[Image]:
    """The library as a person sees it, searched and filtered.

    `uploader` is a username; `used_in` a post's id, "unused" or "" (any).
    """
    images = Image.objects.visible_to(user).search(query).select_related("uploaded_by").prefetch_related("renditions")
    # Counted before filtering on a post, which would count only that post's uses.
    images = images.annotate(use_count=Count("uses__post", distinct=True))
    if uploader:
        images = images.filter(uploaded_by__username=uploader)
    if used_in == "unused":
        images = images.unused()
    elif used_in.isdigit():
        images = images.filter(uses__post_id=int(used_in))
    return images.distinct().order_by("-created_at", "-pk")


def library_uploaders(*, user) -> QuerySet:
    """People whose images this person sees, for the library's filter."""
    visible = Image.objects.visible_to(user).values("uploaded_by")
    return get_user_model().objects.filter(pk__in=visible).order_by("username")


def library_posts(*, user) -> QuerySet[Post]:
    """Posts this person may open that show images they see, for the "used in" filter."""
    visible = Image.objects.visible_to(user).values("pk")
    return Post.objects.editable_by(user).filter(image_uses__image__in=visible).distinct().order_by("title")


def posts_using(image: Image) -> list[Post]:
    return list(Post.objects.filter(image_uses__image=image).distinct().order_by("title"))


def image_posts_for(*, user, image: Image) -> tuple[list[Post], int]:
    """The posts an image is used in that this person may open, and how many others use it."""
    posts = posts_using(image)
    openable = set(
        Post.objects.editable_by(user).filter(pk__in=[post.pk for post in posts]).values_list("pk", flat=True)
    )
    return [post for post in posts if post.pk in openable], len(posts) - len(openable)


def image_get_visible(*, user, pk: int) -> Image | None:
    return Image.objects.visible_to(user).filter(pk=pk).first()


def with_renditions(images: QuerySet[Image]) -> list[Image]:
    """The images with their renditions; those an image lacks are made now.

    Renditions are made on upload; an image without them (one stored before they existed, or
    whose making failed) gets them the first time a page shows it.
    """
    found = list(images.prefetch_related("renditions"))
    lacking = [image for image in found if not any(r.spec == renditions.CARD_SPEC for r in image.renditions.all())]
    if not lacking:
        return found
    for image in lacking:
        try:
            renditions.renditions_create(image)
        except Exception:  # a missing or unreadable file: the page shows the image as it is
            logger.exception("Renditions of image %s could not be made.", image.pk)
    fresh = {image.pk: image for image in images.filter(pk__in=[i.pk for i in lacking]).prefetch_related("renditions")}
    return [fresh.get(image.pk, image) for image in found]


def post_images(*, post: Post) -> list[Image]:
    """The images a post's page may show: those it uses (with `is_cover` set), and the site's default.

    One query, and one for the renditions: the post page reads them under the post's version.
    """
    cover = ImageUse.objects.filter(image=OuterRef("pk"), post=post, role=ImageRole.COVER)
    images = Image.objects.filter(Q(uses__post=post) | Q(is_site_default=True)).annotate(is_cover=Exists(cover))
    return with_renditions(images.distinct())


def post_cover_image_id(*, post: Post | None) -> int | None:
    if post is None:
        return None
    return Image.objects.filter(uses__post=post, uses__role=ImageRole.COVER).values_list("pk", flat=True).first()


def cover_image_choices(*, user, post: Post | None) -> QuerySet[Image]:
    """Images a person may make a post's cover: those they see, and the post's current one (kept on save)."""
    choices = Q(pk__in=Image.objects.visible_to(user).values("pk"))
    if post is not None:
        choices |= Q(uses__post=post, uses__role=ImageRole.COVER)
    return Image.objects.filter(choices).distinct()
