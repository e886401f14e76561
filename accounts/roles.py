"""Roles are Django groups; this module names them and the permissions each one holds.

The groups are created by a data migration (accounts 0002) and filled with the posts
permissions by posts 0002; `python manage.py grant_role` puts a user in one.
"""

from django.db import models


class Role(models.TextChoices):
    READER = "Reader", "Reader"
    AUTHOR = "Author", "Author"
    EDITOR = "Editor", "Editor"
    STAFF = "Staff", "Staff"


# app_label.codename for each role; each role also holds every permission of the roles before it.
ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.READER: ["posts.add_comment"],
    Role.AUTHOR: ["posts.add_post", "posts.change_post", "posts.view_post", "posts.add_tag", "posts.view_tag"],
    Role.EDITOR: [
        "posts.edit_any_post",
        "posts.publish_post",
        "posts.delete_post",
        "posts.moderate_comment",
        "posts.change_comment",
        "posts.view_comment",
        "posts.delete_comment",
        "posts.change_tag",
    ],
    Role.STAFF: [
        "posts.delete_tag",
        "posts.view_revision",
        "posts.view_image",
        "posts.add_image",
        "posts.change_image",
        "posts.delete_image",
        "posts.view_uploadquota",
        "posts.add_uploadquota",
        "posts.change_uploadquota",
        "posts.delete_uploadquota",
        "accounts.view_user",
        "accounts.change_user",
    ],
}


def permissions_for(role: str) -> list[str]:
    """Every permission a role holds, its own and those of the roles below it."""
    order = list(Role)
    granted: list[str] = []
    for current in order[: order.index(Role(role)) + 1]:
        granted.extend(ROLE_PERMISSIONS[current])
    return granted


def grant_role_permissions(apps, app_label: str) -> None:
    """For data migrations: give each role's group the permissions it holds in one app.

    Permissions are normally created after all migrations run (post_migrate), so they are
    created here first for a database that is being built from scratch.
    """
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for role in Role:
        group, _ = group_model.objects.get_or_create(name=role.value)
        codenames = [name.split(".")[1] for name in permissions_for(role) if name.startswith(f"{app_label}.")]
        group.permissions.add(
            *permission_model.objects.filter(content_type__app_label=app_label, codename__in=codenames)
        )
