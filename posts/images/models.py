"""Images that editors upload, the renditions readers are served, and where each image is used.

Only what Pillow decoded and wrote again is stored (posts/images/services.py): the uploaded
bytes themselves never are, so metadata such as EXIF GPS positions never reaches a reader.
Files live in the `default` storage (settings.STORAGES), under names made from `key`.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class ImageFormat(models.TextChoices):
    """What an image's content is (read by Pillow, never taken from its name), as a MIME type."""

    JPEG = "image/jpeg", "JPEG"
    PNG = "image/png", "PNG"
    WEBP = "image/webp", "WebP"
    GIF = "image/gif", "GIF"
    AVIF = "image/avif", "AVIF"


EXTENSIONS = {
    ImageFormat.JPEG: "jpg",
    ImageFormat.PNG: "png",
    ImageFormat.WEBP: "webp",
    ImageFormat.GIF: "gif",
    ImageFormat.AVIF: "avif",
}


def image_file_name(key: uuid.UUID, mime_type: str, *, revision: str = "") -> str:
    """The storage name of an image's file: generated, so an uploaded name never reaches the storage.

    A replaced picture gets a `revision` of its own: a name is never used for two pictures, so
    its files can be cached as immutable.
    """
    suffix = f"-r{revision}" if revision else ""
    return f"images/{key.hex[:2]}/{key.hex}{suffix}.{EXTENSIONS[mime_type]}"


def rendition_file_name(image_name: str, spec: str, mime_type: str) -> str:
    """A rendition's name: its image's file name (which holds the key and revision) and what it is."""
    return f"{image_name.rsplit('.', 1)[0]}-{spec}.{EXTENSIONS[mime_type]}"


# Pixels across of the copies shown in lists of images (the library, the editor's picker).
THUMBNAIL_WIDTH = 320


class ImageQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Images a person may see in the library and use: all for editors, their own uploads for authors."""
        if not user.is_authenticated:
            return self.none()
        if user.has_perm("posts.edit_any_post"):
            return self
        if user.has_perm("posts.change_post"):
            return self.filter(uploaded_by=user)
        return self.none()

    def search(self, query: str):
        query = " ".join(query.split())
        if not query:
            return self
        return self.filter(
            Q(title__icontains=query) | Q(alt_text__icontains=query) | Q(original_filename__icontains=query)
        )

    def used_in(self, post):
        return self.filter(uses__post=post).distinct()

    def unused(self):
        return self.filter(uses__isnull=True)


class Image(models.Model):
    key = models.UUIDField(
        default=uuid.uuid4, unique=True, editable=False, help_text="Names the image's files and finds it in posts."
    )
    file = models.ImageField(
        max_length=255, help_text="The image as served: decoded and written again, metadata removed."
    )
    title = models.CharField(max_length=200, blank=True, help_text="For finding the image in the library.")
    alt_text = models.CharField(
        max_length=1000,
        blank=True,
        help_text="What the image shows, for people who cannot see it. Used where a post gives none.",
    )
    original_filename = models.CharField(max_length=255, blank=True, help_text="The name it was uploaded under.")
    mime_type = models.CharField(max_length=20, choices=ImageFormat.choices, help_text="The file's format.")
    width = models.PositiveIntegerField(help_text="In pixels, upright.")
    height = models.PositiveIntegerField(help_text="In pixels, upright.")
    file_size = models.PositiveBigIntegerField(
        help_text="Bytes of the stored file; counts towards the uploader's quota."
    )
    animated = models.BooleanField(default=False, help_text="Animated images are served as they are, not resized.")
    is_site_default = models.BooleanField(
        default=False,
        help_text="The image link previews show for posts without a cover image. One image at most.",
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="images"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ImageQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_site_default"], condition=Q(is_site_default=True), name="one_site_default_image"
            )
        ]

    def __str__(self) -> str:
        return self.title or self.original_filename or self.key.hex

    @property
    def url(self) -> str:
        return self.file.url

    @property
    def thumbnail_url(self) -> str:
        """For lists of images: the narrowest copy at least THUMBNAIL_WIDTH wide, else the image itself.

        Reads `renditions`, so lists prefetch them.
        """
        copies = [r for r in self.renditions.all() if r.spec.startswith("w") and r.width >= THUMBNAIL_WIDTH]
        return min(copies, key=lambda r: (r.width, r.file_size)).file.url if copies else self.url


class Rendition(models.Model):
    """The image at another width or format, made once with Pillow (posts/images/renditions.py)."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="renditions")
    spec = models.CharField(max_length=40, help_text="What it is, e.g. “w800-webp” or “card-jpeg”.")
    file = models.FileField(max_length=255)
    mime_type = models.CharField(max_length=20, choices=ImageFormat.choices)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    file_size = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["width", "mime_type"]
        constraints = [models.UniqueConstraint(fields=["image", "spec"], name="unique_rendition_spec")]

    def __str__(self) -> str:
        return f"{self.image} {self.spec}"


class ImageRole(models.TextChoices):
    BODY = "body", "In the body"
    COVER = "cover", "Cover image"


class ImageUse(models.Model):
    """An image shown by a post: in its body (kept in step with the Markdown) or as its cover."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="uses")
    post = models.ForeignKey("posts.Post", on_delete=models.CASCADE, related_name="image_uses")
    role = models.CharField(max_length=10, choices=ImageRole.choices)

    class Meta:
        ordering = ["post", "role"]
        constraints = [
            models.UniqueConstraint(fields=["image", "post", "role"], name="unique_image_use"),
            models.UniqueConstraint(fields=["post"], condition=Q(role="cover"), name="one_cover_image_per_post"),
        ]

    def __str__(self) -> str:
        return f"{self.image} in {self.post} ({self.get_role_display().lower()})"


class UploadQuota(models.Model):
    """A person's own upload allowance, set by staff; without one, settings.IMAGE_UPLOAD_QUOTA_BYTES applies."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="upload_quota")
    max_bytes = models.PositiveBigIntegerField(help_text="Bytes of images this person may keep in the library.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "upload quota"

    def __str__(self) -> str:
        return f"Upload quota of {self.user}"
