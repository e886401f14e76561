import pytest
from django.core.management import CommandError, call_command

from accounts.roles import Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def role_names(user) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


@pytest.mark.parametrize(("typed", "role"), [("reader", "Reader"), ("AUTHOR", "Author"), ("Editor", "Editor")])
def test_grant_role_adds_the_role_in_any_letter_case(capsys, typed, role):
    user = UserFactory(username="alice")
    call_command("grant_role", "alice", typed)
    assert role in role_names(user)
    assert f"Gave the {role} role to alice." in capsys.readouterr().out
    user.refresh_from_db()
    assert not user.is_staff


def test_granting_staff_opens_the_admin(client):
    user = UserFactory(username="alice")
    call_command("grant_role", "alice", "staff")
    user.refresh_from_db()
    assert user.is_staff
    assert Role.STAFF in role_names(user)
    client.force_login(user)
    assert client.get("/admin/").status_code == 200


def test_revoke_removes_the_role_and_admin_access(capsys):
    user = UserFactory(username="alice", role=Role.STAFF)
    call_command("grant_role", "alice", "Staff", "--revoke")
    user.refresh_from_db()
    assert Role.STAFF not in role_names(user)
    assert not user.is_staff
    assert "Removed the Staff role from alice." in capsys.readouterr().out


def test_unknown_user_is_a_clear_error():
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        call_command("grant_role", "ghost", "editor")


def test_unknown_role_is_a_clear_error():
    UserFactory(username="alice")
    with pytest.raises(CommandError, match="Unknown role 'wizard'; choose one of Reader, Author, Editor, Staff"):
        call_command("grant_role", "alice", "wizard")
