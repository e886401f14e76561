"""Reads of user accounts."""

from django.db.models import Q

from .lookalikes import name_skeletons
from .models import SKELETON_FIELDS, User


def email_in_use(*, email: str, exclude: User | None = None) -> bool:
    """Whether another account already has this email address, in any letter case."""
    accounts = User.objects.filter(email__iexact=email.strip())
    if exclude is not None:
        accounts = accounts.exclude(pk=exclude.pk)
    return accounts.exists()


def username_in_use(*, username: str) -> bool:
    """Whether a username is taken, in any letter case, so look-alike accounts cannot be made."""
    return User.objects.filter(username__iexact=username.strip()).exists()


def user_get_by_username(*, username: str) -> User | None:
    return User.objects.filter(username=username).first()


def name_looks_taken(*, name: str, exclude: User | None = None) -> bool:
    """Whether `name` looks like another person's username or display name (accounts/lookalikes.py)."""
    skeletons = {skeleton for skeleton in name_skeletons(name) if skeleton}
    if not skeletons:
        return False
    fields = [field for pair in SKELETON_FIELDS.values() for field in pair]
    accounts = User.objects.filter(Q.create([(f"{field}__in", skeletons) for field in fields], connector=Q.OR))
    if exclude is not None:
        accounts = accounts.exclude(pk=exclude.pk)
    return accounts.exists()
