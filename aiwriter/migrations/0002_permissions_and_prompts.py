from django.db import migrations

from aiwriter.default_prompts import DEFAULT_PROMPTS

# Role group -> aiwriter permissions it gains. accounts.roles cannot name them: accounts must not
# know about the AI writer, so the grant lives here.
ROLE_GRANTS = {
    "Author": ["use_aiwriter"],
    "Editor": ["use_aiwriter"],
    "Staff": ["use_aiwriter", "view_generation", "view_prompttemplate", "change_prompttemplate"],
}


def grant_permissions(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations (post_migrate); a fresh database needs them now.
    app_config = apps.get_app_config("aiwriter")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None

    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_GRANTS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        group.permissions.add(
            *permission_model.objects.filter(content_type__app_label="aiwriter", codename__in=codenames)
        )


def revoke_permissions(apps, schema_editor):
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_GRANTS.items():
        for group in group_model.objects.filter(name=role):
            group.permissions.remove(
                *permission_model.objects.filter(content_type__app_label="aiwriter", codename__in=codenames)
            )


def seed_prompts(apps, schema_editor):
    prompt_model = apps.get_model("aiwriter", "PromptTemplate")
    for action, prompt in DEFAULT_PROMPTS.items():
        prompt_model.objects.get_or_create(
            action=action, defaults={"system": prompt["system"], "template": prompt["template"]}
        )


class Migration(migrations.Migration):
    dependencies = [("aiwriter", "0001_initial"), ("accounts", "0002_roles")]

    operations = [
        migrations.RunPython(grant_permissions, revoke_permissions),
        migrations.RunPython(seed_prompts, migrations.RunPython.noop),
    ]
