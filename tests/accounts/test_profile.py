import pytest
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PROFILE_URL = reverse("accounts:profile")
PASSWORD = "correct horse battery staple"


def profile_data(user, **overrides) -> dict:
    data = {"display_name": user.display_name, "email": user.email, "avatar_url": "", "bio": "", "current_password": ""}
    return {**data, **overrides}


def test_profile_needs_sign_in(client):
    response = client.get(PROFILE_URL)
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


def test_profile_shows_the_current_values(client, reader):
    client.force_login(reader)
    page = client.get(PROFILE_URL).content.decode()
    assert f'value="{reader.email}"' in page
    assert 'autocomplete="nickname"' in page


def test_profile_edit_saves_name_bio_and_picture(client, reader):
    client.force_login(reader)
    response = client.post(
        PROFILE_URL,
        profile_data(
            reader, display_name="Ada L.", bio="Writes about engines.", avatar_url="https://img.example/a.png"
        ),
        follow=True,
    )
    assert "Your profile was saved." in response.content.decode()
    reader.refresh_from_db()
    assert (reader.public_name, reader.bio, reader.avatar_url) == (
        "Ada L.",
        "Writes about engines.",
        "https://img.example/a.png",
    )


def test_profile_refuses_a_picture_that_is_not_https(client, reader):
    client.force_login(reader)
    response = client.post(PROFILE_URL, profile_data(reader, avatar_url="http://img.example/a.png"))
    assert "Enter a full https:// address" in response.content.decode()
    assert response.context["form"].errors["avatar_url"]
    reader.refresh_from_db()
    assert reader.avatar_url == ""


def test_changing_email_needs_the_current_password(client, reader):
    client.force_login(reader)
    response = client.post(PROFILE_URL, profile_data(reader, email="new@example.com", current_password="wrong"))
    assert "Enter your current password to change your email address." in response.content.decode()
    reader.refresh_from_db()
    assert reader.email == "reader@example.com"

    client.post(PROFILE_URL, profile_data(reader, email="new@example.com", current_password=PASSWORD))
    reader.refresh_from_db()
    assert reader.email == "new@example.com"


def test_profile_refuses_an_email_used_by_another_account(client, reader):
    UserFactory(email="taken@example.com")
    client.force_login(reader)
    response = client.post(PROFILE_URL, profile_data(reader, email="TAKEN@example.com", current_password=PASSWORD))
    assert "Another account already uses this email address." in response.content.decode()
    reader.refresh_from_db()
    assert reader.email == "reader@example.com"


def test_a_refused_edit_does_not_change_the_name_in_the_header(client, reader):
    client.force_login(reader)
    response = client.post(PROFILE_URL, profile_data(reader, display_name="Renamed", avatar_url="ftp://x.example/a"))
    assert response.context["user"].public_name == "Reader"


def test_wrong_current_passwords_on_email_change_are_throttled_like_sign_in(client, reader, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    client.force_login(reader)
    for _ in range(3):
        client.post(PROFILE_URL, profile_data(reader, email="new@example.com", current_password="guess"))
    response = client.post(PROFILE_URL, profile_data(reader, email="new@example.com", current_password=PASSWORD))
    assert "Too many failed sign-in attempts" in response.content.decode()
    reader.refresh_from_db()
    assert reader.email != "new@example.com"


def test_profile_refuses_a_display_name_copying_another_persons_name(client, reader):
    UserFactory(username="gracie", display_name="Grace Hopper")
    client.force_login(reader)
    for copied in ("Gr\u0430ce Hopper", "Gracie"):
        response = client.post(PROFILE_URL, profile_data(reader, display_name=copied))
        assert "looks too much like" in response.context["form"].errors["display_name"][0]
    reader.refresh_from_db()
    assert reader.display_name == "Reader"


def test_profile_keeps_your_own_name_in_another_case(client, reader):
    client.force_login(reader)
    response = client.post(PROFILE_URL, profile_data(reader, display_name="READER"), follow=True)
    assert "Your profile was saved." in response.content.decode()
