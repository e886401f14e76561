"""Writes to user accounts."""

from django.contrib.auth.models import Group
from django.db import transaction

from .models import User
from .roles import Role


class AccountError(Exception):
    """An account change that cannot be done; the message is meant for a person."""


@transaction.atomic
def role_grant(*, user: User, role: str) -> User:
    """Put a user in a role's group. Staff also get into the admin (is_staff)."""
    if role not in Role.values:
        raise AccountError(f"Unknown role {role!r}; choose one of {', '.join(Role.values)}.")
    user.groups.add(Group.objects.get(name=role))
    if role == Role.STAFF and not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return user


@transaction.atomic
def role_revoke(*, user: User, role: str) -> User:
    if role not in Role.values:
        raise AccountError(f"Unknown role {role!r}; choose one of {', '.join(Role.values)}.")
    user.groups.remove(Group.objects.get(name=role))
    if role == Role.STAFF and user.is_staff and not user.is_superuser:
        user.is_staff = False
        user.save(update_fields=["is_staff"])
    return user


@transaction.atomic
def user_create(*, username: str, email: str, password: str, display_name: str = "", role: str = Role.READER) -> User:
    """A new account; everyone who signs up starts as a reader."""
    user = User.objects.create_user(username=username, email=email, password=password, display_name=display_name)
    return role_grant(user=user, role=role)
