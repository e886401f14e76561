from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A person with an account: reader, author, editor or staff (see accounts.roles)."""

    email = models.EmailField("email address", unique=True, help_text="Used for sign-in help and password reset.")
    display_name = models.CharField(
        max_length=80, blank=True, help_text="Name shown on posts and comments; the username when empty."
    )
    bio = models.TextField(blank=True, max_length=2000, help_text="A few sentences shown on the author page.")
    avatar_url = models.URLField(blank=True, help_text="Optional picture shown beside the name (https URL).")

    REQUIRED_FIELDS = ["email"]

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return self.public_name

    @property
    def public_name(self) -> str:
        return self.display_name or self.username
