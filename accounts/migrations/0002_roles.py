from django.db import migrations

from accounts.roles import Role


def create_role_groups(apps, schema_editor):
    group_model = apps.get_model("auth", "Group")
    for role in Role:
        group_model.objects.get_or_create(name=role.value)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(create_role_groups, migrations.RunPython.noop)]
