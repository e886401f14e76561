from django.db import migrations

from accounts.roles import grant_role_permissions


def grant_posts_permissions(apps, schema_editor):
    grant_role_permissions(apps, "posts")
    grant_role_permissions(apps, "accounts")


class Migration(migrations.Migration):
    dependencies = [("posts", "0001_initial"), ("accounts", "0002_roles")]

    operations = [migrations.RunPython(grant_posts_permissions, migrations.RunPython.noop)]
