import pytest

from accounts.roles import Role
from accounts.services import AccountError, user_create, user_profile_update
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_user_create_makes_a_reader_with_a_usable_password():
    user = user_create(username="nina", email="nina@Example.COM", password="a long unusual passphrase 42")
    assert user.email == "nina@example.com"
    assert user.check_password("a long unusual passphrase 42")
    assert list(user.groups.values_list("name", flat=True)) == [Role.READER]


def test_user_create_refuses_taken_usernames_and_emails_in_any_case():
    UserFactory(username="Nina", email="nina@example.com")
    with pytest.raises(AccountError, match="username is taken"):
        user_create(username="nina", email="other@example.com", password="x")
    with pytest.raises(AccountError, match="email address already exists"):
        user_create(username="other", email="NINA@example.com", password="x")


def test_profile_update_refuses_plain_http_pictures_and_leaves_the_user_alone(reader):
    with pytest.raises(AccountError, match="https://"):
        user_profile_update(user=reader, data={"display_name": "Changed", "avatar_url": "http://img.example/a.png"})
    assert reader.display_name == "Reader"
    reader.refresh_from_db()
    assert reader.display_name == "Reader"


def test_profile_update_changes_only_profile_fields(reader):
    user = user_profile_update(user=reader, data={"bio": "  Hello.  ", "is_staff": True})
    assert user.bio == "Hello."
    assert not user.is_staff


def test_profile_update_refuses_too_long_names(reader):
    with pytest.raises(AccountError, match="at most 80 characters"):
        user_profile_update(user=reader, data={"display_name": "x" * 81})


def test_control_characters_are_removed_from_names_and_bios(reader):
    user = user_profile_update(user=reader, data={"display_name": "Ada\x07 Lovelace", "bio": "Line\x1b one\nline two"})
    assert (user.display_name, user.bio) == ("Ada Lovelace", "Line one\nline two")
    created = user_create(username="nina", email="nina@example.com", password="x", display_name="Ni\x00na\tB.")
    assert created.display_name == "Nina B."


def test_user_create_refuses_look_alike_usernames_and_copied_display_names():
    UserFactory(username="alice", display_name="Alice Moreau")
    with pytest.raises(AccountError, match="looks too much like"):
        user_create(username="\u0430lice", email="a2@example.com", password="x")
    with pytest.raises(AccountError, match="looks too much like"):
        user_create(username="alice2", email="a2@example.com", password="x", display_name="Alice Mor\u0435au")


def test_profile_update_refuses_a_display_name_copying_another_persons_username(reader):
    UserFactory(username="gracie")
    with pytest.raises(AccountError, match="looks too much like"):
        user_profile_update(user=reader, data={"display_name": "GRACIE"})
