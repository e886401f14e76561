from django.contrib.auth.models import AbstractUser
from django.db import models

from .lookalikes import name_skeletons

# The look-alike forms of each name (accounts/lookalikes.py), kept beside it so a new name is
# compared with everyone's in one indexed query.
SKELETON_FIELDS = {
    "username": ("username_skeleton", "username_skeleton_cased"),
    "display_name": ("display_name_skeleton", "display_name_skeleton_cased"),
}


def _skeleton_field(help_text: str) -> models.CharField:
    return models.CharField(max_length=1000, blank=True, editable=False, db_index=True, help_text=help_text)


class User(AbstractUser):
    """A person with an account: reader, author, editor or staff (see accounts.roles)."""

    email = models.EmailField("email address", unique=True, help_text="Used for sign-in help and password reset.")
    display_name = models.CharField(
        max_length=80, blank=True, help_text="Name shown on posts and comments; the username when empty."
    )
    bio = models.TextField(blank=True, max_length=2000, help_text="A few sentences shown on the author page.")
    avatar_url = models.URLField(blank=True, help_text="Optional picture shown beside the name (https URL).")
    username_skeleton = _skeleton_field("The username's look-alike form, case-folded first.")
    username_skeleton_cased = _skeleton_field("The username's look-alike form, case-folded after.")
    display_name_skeleton = _skeleton_field("The display name's look-alike form, case-folded first.")
    display_name_skeleton_cased = _skeleton_field("The display name's look-alike form, case-folded after.")

    REQUIRED_FIELDS = ["email"]

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return self.public_name

    def save(self, *args, **kwargs):
        update_fields = kwargs.get("update_fields")
        for name, fields in SKELETON_FIELDS.items():
            for field, skeleton in zip(fields, name_skeletons(getattr(self, name)), strict=True):
                setattr(self, field, skeleton)
            if update_fields is not None and name in update_fields:
                kwargs["update_fields"] = update_fields = {*update_fields, *fields}
        super().save(*args, **kwargs)

    @property
    def public_name(self) -> str:
        return self.display_name or self.username
