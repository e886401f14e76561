"""Who may use the AI writer, checked on the server by the service and the views."""

USE_AIWRITER = "aiwriter.use_aiwriter"


def can_use_aiwriter(user) -> bool:
    """Authors, editors and staff hold the permission through their role's group."""
    return bool(user and user.is_authenticated and user.is_active and user.has_perm(USE_AIWRITER))


async def acan_use_aiwriter(user) -> bool:
    """`can_use_aiwriter` from async code: no query when the user's permissions are loaded already."""
    return bool(user and user.is_authenticated and user.is_active and await user.ahas_perm(USE_AIWRITER))
