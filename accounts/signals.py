"""Tells other apps when something readers see about a person changes.

Posts show their author's name and link to their author page, and comments show their
author's name, so the posts app refreshes those pages when `public_profile_changed` fires.
accounts cannot import posts (imports run posts -> accounts), hence a signal of its own.
"""

from django.db.models.signals import post_save, pre_save
from django.dispatch import Signal, receiver

from .models import User

# Sent after a user's public profile changed, with `user`, `previous_username` and
# `name_changed` (True when the name or username shown on posts and comments changed).
public_profile_changed = Signal()

PUBLIC_FIELDS = ("username", "display_name", "bio", "avatar_url")
NAME_FIELDS = ("username", "display_name")


@receiver(pre_save, sender=User, dispatch_uid="accounts.profile_before_save")
def profile_remember(sender, instance: User, raw: bool = False, update_fields=None, **kwargs) -> None:
    """Read the stored profile before it is overwritten; sign-ins (last_login only) skip the query."""
    instance._public_profile_before = None
    if raw or instance.pk is None or (update_fields is not None and not set(update_fields) & set(PUBLIC_FIELDS)):
        return
    instance._public_profile_before = User.objects.filter(pk=instance.pk).values(*PUBLIC_FIELDS).first()


@receiver(post_save, sender=User, dispatch_uid="accounts.profile_after_save")
def profile_announce(sender, instance: User, raw: bool = False, **kwargs) -> None:
    before = instance.__dict__.pop("_public_profile_before", None)
    if raw or before is None:
        return
    changed = {field for field in PUBLIC_FIELDS if before[field] != getattr(instance, field)}
    if changed:
        public_profile_changed.send(
            sender=User,
            user=instance,
            previous_username=before["username"],
            name_changed=bool(changed & set(NAME_FIELDS)),
        )
