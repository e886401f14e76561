import pytest

from accounts.models import User
from accounts.roles import Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

USERS_URL = "/admin/accounts/user/"


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser(username="root", email="root@example.com", password="x-root-pass-1")


def test_user_list_shows_each_users_roles(client, staff, author):
    client.force_login(staff)
    page = client.get(USERS_URL).content.decode()
    assert '<td class="field-roles">Author</td>' in page
    assert '<td class="field-roles">Staff</td>' in page


def test_user_list_filters_by_role_and_searches(client, staff, author, editor):
    client.force_login(staff)
    authors = client.get(USERS_URL, {"groups__id__exact": author.groups.get(name=Role.AUTHOR).pk})
    assert [user.username for user in authors.context["cl"].result_list] == ["author"]
    found = client.get(USERS_URL, {"q": "editor@example"})
    assert [user.username for user in found.context["cl"].result_list] == ["editor"]


def test_staff_edit_profiles_but_cannot_grant_themselves_rights(client, staff, reader):
    client.force_login(staff)
    page = client.get(f"{USERS_URL}{reader.pk}/change/").content.decode()
    assert 'name="display_name"' in page
    assert 'name="is_superuser"' not in page
    assert 'name="groups"' not in page


def test_staff_cannot_change_a_superuser(client, staff, superuser):
    client.force_login(staff)
    page = client.get(f"{USERS_URL}{superuser.pk}/change/").content.decode()
    assert 'name="email"' not in page
    assert client.get(f"{USERS_URL}{superuser.pk}/password/").status_code == 403


def test_superuser_adds_a_user_who_starts_as_a_reader(client, superuser):
    client.force_login(superuser)
    response = client.post(
        f"{USERS_URL}add/",
        {
            "username": "newbie",
            "email": "newbie@example.com",
            "usable_password": "true",
            "password1": "a long unusual passphrase 42",
            "password2": "a long unusual passphrase 42",
        },
    )
    assert response.status_code == 302
    assert list(User.objects.get(username="newbie").groups.values_list("name", flat=True)) == [Role.READER]


def test_admin_refuses_a_picture_that_is_not_https(client, superuser):
    user = UserFactory(username="pictured")
    client.force_login(superuser)
    data = {
        "username": "pictured",
        "email": "pictured@example.com",
        "avatar_url": "http://img.example/a.png",
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "10:00:00",
    }
    response = client.post(f"{USERS_URL}{user.pk}/change/", data)
    assert "Enter a full https:// address" in response.content.decode()
    data["avatar_url"] = "https://img.example/a.png"
    assert client.post(f"{USERS_URL}{user.pk}/change/", data).status_code == 302
    user.refresh_from_db()
    assert user.avatar_url == "https://img.example/a.png"
