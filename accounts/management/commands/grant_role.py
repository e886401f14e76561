from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.roles import Role
from accounts.selectors import user_get_by_username
from accounts.services import AccountError, role_grant, role_revoke


def role_from_name(name: str) -> str:
    """The role a name means, in any letter case ('editor', 'EDITOR' and 'Editor' alike)."""
    for role in Role:
        if role.value.lower() == name.strip().lower():
            return role.value
    raise CommandError(f"Unknown role {name!r}; choose one of {', '.join(Role.values)}.")


class Command(BaseCommand):
    help = "Give a user a role (Reader, Author, Editor or Staff), or take it away with --revoke."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="The account's username, exactly as it was registered.")
        parser.add_argument("role", help=f"One of {', '.join(Role.values)}; letter case does not matter.")
        parser.add_argument("--revoke", action="store_true", help="Remove the role instead of granting it.")

    def handle(self, *args, username: str, role: str, revoke: bool, **options) -> None:
        role = role_from_name(role)
        user = user_get_by_username(username=username)
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        try:
            if revoke:
                role_revoke(user=user, role=role)
            else:
                role_grant(user=user, role=role)
        except AccountError as error:
            raise CommandError(str(error)) from error
        done = f"Removed the {role} role from" if revoke else f"Gave the {role} role to"
        self.stdout.write(self.style.SUCCESS(f"{done} {user.get_username()}."))
