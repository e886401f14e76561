"""Reads of user accounts."""

from .models import User


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
