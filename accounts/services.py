"""Writes to user accounts. Changes to what others see of a person are announced (accounts.events)."""

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction

from blogsite.text import without_control_characters

from .events import public_profile_changed, public_profile_removed
from .models import User
from .roles import Role
from .selectors import email_in_use, name_looks_taken, username_in_use
from .validators import avatar_url_validator

PROFILE_FIELDS = ("display_name", "bio", "avatar_url", "email")
# What readers see of a person, and of that what shows on posts and comments.
PUBLIC_FIELDS = ("username", "display_name", "bio", "avatar_url")
NAME_FIELDS = frozenset({"username", "display_name"})
# Text a person types about themselves: control characters go (blogsite/text.py), and all but
# the bio are one line.
TEXT_FIELDS = ("username", "display_name", "first_name", "last_name", "bio", "email")
MULTILINE_FIELDS = frozenset({"bio"})


def _without_control_characters(field: str, value: str) -> str:
    return without_control_characters(value, multiline=field in MULTILINE_FIELDS)


class AccountError(Exception):
    """An account change that cannot be done; the message is meant for a person."""


USERNAME_RESERVED = "That username is reserved for the site; choose another."
USERNAME_LOOKS_TAKEN = "That username looks too much like another person's name; choose another."
DISPLAY_NAME_LOOKS_TAKEN = "That display name looks too much like another person's name; choose another."


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
    username = _without_control_characters("username", username)
    display_name = _without_control_characters("display_name", display_name).strip()
    if username_in_use(username=username):
        raise AccountError("That username is taken; choose another.")
    if name_looks_taken(name=username):
        raise AccountError(USERNAME_LOOKS_TAKEN)
    if display_name and name_looks_taken(name=display_name):
        raise AccountError(DISPLAY_NAME_LOOKS_TAKEN)
    _require_free_email(email)
    user = User.objects.create_user(username=username, email=email, password=password, display_name=display_name)
    return role_grant(user=user, role=role)


def _require_free_email(email: str, *, exclude: User | None = None) -> None:
    if email_in_use(email=email, exclude=exclude):
        raise AccountError("An account with this email address already exists.")


@transaction.atomic
def user_profile_update(*, user: User, data: dict) -> User:
    """Change what a person shows about themselves (PROFILE_FIELDS); other keys are ignored.

    Works on a fresh copy so a refused change leaves the caller's object (often request.user)
    untouched. Pictures must load over https so pages never mix in insecure content.
    """
    changes = {
        field: _without_control_characters(field, data[field] or "").strip()
        for field in PROFILE_FIELDS
        if field in data
    }
    current = User.objects.select_for_update().get(pk=user.pk)
    before = _public_profile(current)
    new_name = changes.get("display_name", current.display_name)
    if new_name != current.display_name and name_looks_taken(name=new_name, exclude=current):
        raise AccountError(DISPLAY_NAME_LOOKS_TAKEN)
    if "email" in changes:
        changes["email"] = User.objects.normalize_email(changes["email"])
        _require_free_email(changes["email"], exclude=current)
    for field, value in changes.items():
        setattr(current, field, value)
    try:
        current.clean_fields(exclude=[f.name for f in User._meta.fields if f.name not in changes])
        if changes.get("avatar_url"):
            avatar_url_validator(changes["avatar_url"])
    except ValidationError as error:
        raise AccountError(" ".join(error.messages)) from error
    current.save(update_fields=list(changes))
    _announce(current, before=before)
    return current


@transaction.atomic
def user_admin_save(*, user: User) -> User:
    """Save a user as staff changed them in the admin's form (username, profile, rights)."""
    before = User.objects.select_for_update().values(*PUBLIC_FIELDS).get(pk=user.pk)
    for field in TEXT_FIELDS:
        setattr(user, field, _without_control_characters(field, getattr(user, field) or ""))
    user.save()
    _announce(user, before=before)
    return user


@transaction.atomic
def user_delete(*, user: User) -> None:
    """Delete an account and its comments; an account with posts is protected by them (ProtectedError)."""
    public_profile_removed.send(sender=User, user=user)
    user.delete()


def _public_profile(user: User) -> dict[str, str]:
    return {field: getattr(user, field) for field in PUBLIC_FIELDS}


def _announce(user: User, *, before: dict[str, str]) -> None:
    changed = {field for field in PUBLIC_FIELDS if before[field] != getattr(user, field)}
    if changed:
        public_profile_changed.send(
            sender=User, user=user, previous_username=before["username"], name_changed=bool(changed & NAME_FIELDS)
        )
