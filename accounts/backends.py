"""The authentication backend: Django's model backend with sign-in throttling.

Throttling sits here rather than in a form because every sign-in path (the site's login
page, the admin's, any other caller of `authenticate`) goes through the backend.
"""

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from . import throttle


class LoginLocked(PermissionDenied):
    """Raised to make `authenticate` stop at once: this account or address is locked out."""


class ThrottledModelBackend(ModelBackend):
    def authenticate(self, request: HttpRequest | None, username: str | None = None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        address = throttle.client_address(request)
        if seconds := throttle.login_lockout_seconds(username=username, address=address):
            raise LoginLocked(throttle.lockout_message(seconds))
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            throttle.login_failure_record(username=username, address=address)
        else:
            throttle.login_failures_clear(username=username, address=address)
        return user

    async def aauthenticate(self, request: HttpRequest | None, username: str | None = None, password=None, **kwargs):
        # ModelBackend has its own async path; route it through the throttled one instead.
        return await sync_to_async(self.authenticate)(request, username=username, password=password, **kwargs)


BACKEND_PATH = f"{ThrottledModelBackend.__module__}.{ThrottledModelBackend.__qualname__}"
