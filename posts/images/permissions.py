"""Who may do what with library images, checked on the server by services and views.

Whoever writes posts uploads images; editors (who edit any post) manage every image, authors
their own uploads.
"""

from .models import Image


def can_upload_images(user) -> bool:
    return user.is_authenticated and user.is_active and user.has_perm("posts.change_post")


def can_manage_image(user, image: Image) -> bool:
    if not user.is_authenticated:
        return False
    if user.has_perm("posts.edit_any_post"):
        return True
    return user.has_perm("posts.change_post") and image.uploaded_by_id == user.pk
