"""Tells open AI writer sockets when a user's access changes (aiwriter/access.py says how they check).

Any committed change to a user row, their groups or permissions, or their groups' permissions
replaces the user's access token, except a sign-in's `last_login`: the few that do not matter to
the AI writer (a new display name) only make the socket read the user once more. A sign-out marks
its session ended.
"""

from django.contrib.auth import get_user_model, user_logged_out
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from . import access

User = get_user_model()


def _access_changed(user_ids) -> None:
    user_ids = list(user_ids)
    if user_ids:
        transaction.on_commit(lambda: access.access_changed(user_ids=user_ids))


def user_saved(sender, instance, update_fields=None, **kwargs) -> None:
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return
    _access_changed([instance.pk])


def user_deleted(sender, instance, **kwargs) -> None:
    _access_changed([instance.pk])


def user_links_changed(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    """A user's groups or own permissions: from the user's side, or from the group's or permission's."""
    if action in ("post_add", "post_remove"):
        _access_changed(pk_set if reverse else [instance.pk])
    elif action == "pre_clear":
        _access_changed(instance.user_set.values_list("pk", flat=True) if reverse else [instance.pk])


def group_permissions_changed(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    """A role's permissions: every member of the groups concerned."""
    if action in ("post_add", "post_remove"):
        groups = pk_set if reverse else [instance.pk]
    elif action == "pre_clear":
        groups = instance.group_set.values_list("pk", flat=True) if reverse else [instance.pk]
    else:
        return
    _access_changed(User.objects.filter(groups__in=list(groups)).values_list("pk", flat=True).distinct())


def signed_out(sender, request, user, **kwargs) -> None:
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        access.session_ended(session_key=session_key)


def connect() -> None:
    post_save.connect(user_saved, sender=User, dispatch_uid="aiwriter-access-user-saved")
    post_delete.connect(user_deleted, sender=User, dispatch_uid="aiwriter-access-user-deleted")
    for through in (User.groups.through, User.user_permissions.through):
        m2m_changed.connect(user_links_changed, sender=through, dispatch_uid=f"aiwriter-access-{through.__name__}")
    m2m_changed.connect(
        group_permissions_changed, sender=Group.permissions.through, dispatch_uid="aiwriter-access-group-permissions"
    )
    user_logged_out.connect(signed_out, dispatch_uid="aiwriter-access-signed-out")
