"""The JSON answer of the AI writer's HTTP endpoints when they refuse a request, and the refusal
of a person who may not use the AI writer."""

from django.http import JsonResponse

from .permissions import acan_use_aiwriter, can_use_aiwriter

SIGN_IN = "Sign in to use the AI writer."
NOT_ALLOWED = "Your account cannot use the AI writer."


def json_refusal(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"code": code, "message": message}, status=status)


def user_refusal(user) -> JsonResponse | None:
    """401 for a visitor, 403 for an account without the AI writer; None for one who may use it."""
    if not user.is_authenticated:
        return json_refusal("unauthorized", SIGN_IN, 401)
    if not can_use_aiwriter(user):
        return json_refusal("forbidden", NOT_ALLOWED, 403)
    return None


async def auser_refusal(user) -> JsonResponse | None:
    """`user_refusal` from async code."""
    if not user.is_authenticated:
        return json_refusal("unauthorized", SIGN_IN, 401)
    if not await acan_use_aiwriter(user):
        return json_refusal("forbidden", NOT_ALLOWED, 403)
    return None
