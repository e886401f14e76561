"""Keeps the record of where images are used in step with posts' Markdown (connected in PostsConfig.ready)."""

from django.dispatch import receiver

from .. import events
from . import services


@receiver(events.post_changed, dispatch_uid="posts.images.post_changed")
def post_changed(sender, post, after, **kwargs) -> None:
    if after is not None:  # a deleted post's uses go with it
        services.post_body_uses_sync(post=post)
