import pytest
from django.urls import reverse

from accounts.models import User
from accounts.roles import Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SIGNUP_URL = reverse("accounts:signup")


def signup_data(**overrides) -> dict:
    data = {
        "username": "newreader",
        "email": "new.reader@example.com",
        "display_name": "New Reader",
        "password1": "a long unusual passphrase 42",
        "password2": "a long unusual passphrase 42",
    }
    return {**data, **overrides}


def test_signup_page_has_labelled_fields_with_autocomplete(client):
    page = client.get(SIGNUP_URL).content.decode()
    assert '<label for="id_email">' in page
    assert 'autocomplete="email"' in page
    assert 'autocomplete="new-password"' in page
    assert "csrfmiddlewaretoken" in page


def test_signup_creates_a_signed_in_reader(client):
    response = client.post(SIGNUP_URL, signup_data())
    assert response.status_code == 302
    assert response.url == "/"
    user = User.objects.get(username="newreader")
    assert list(user.groups.values_list("name", flat=True)) == [Role.READER]
    assert user.public_name == "New Reader"
    assert client.session["_auth_user_id"] == str(user.pk)


def test_signup_follows_a_local_next_but_not_an_outside_one(client):
    response = client.post(f"{SIGNUP_URL}?next=/posts/hello/", signup_data())
    assert response.url == "/posts/hello/"
    client.logout()
    response = client.post(
        SIGNUP_URL,
        signup_data(username="other", email="o@example.com", display_name="Other", next="https://evil.test/"),
    )
    assert response.url == "/"


def test_signup_refuses_an_email_in_use_in_any_letter_case(client, reader):
    response = client.post(SIGNUP_URL, signup_data(email=reader.email.upper()))
    assert response.status_code == 200
    assert "An account with this email address already exists" in response.content.decode()
    assert response.context["form"].errors["email"]
    assert not User.objects.filter(username="newreader").exists()


def test_signup_refuses_a_username_in_use_in_any_letter_case(client):
    UserFactory(username="Alice")
    response = client.post(SIGNUP_URL, signup_data(username="alice"))
    assert "A user with that username already exists." in response.content.decode()
    assert User.objects.filter(username__iexact="alice").count() == 1


def test_signup_error_is_tied_to_its_field(client):
    page = client.post(SIGNUP_URL, signup_data(password2="something else entirely")).content.decode()
    assert 'aria-describedby="id_password2_helptext id_password2_error"' in page
    assert 'id="id_password2_error"' in page
    assert 'aria-invalid="true"' in page


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short1", "This password is too short."),
        ("password123", "This password is too common."),
        ("8401735926481", "This password is entirely numeric."),
        ("newreader1x", "The password is too similar to the username."),
    ],
)
def test_signup_applies_the_password_validators(client, password, message):
    response = client.post(SIGNUP_URL, signup_data(password1=password, password2=password))
    assert message in response.content.decode()
    assert not User.objects.filter(username="newreader").exists()


def test_signed_in_people_are_sent_on_from_signup(client, reader):
    client.force_login(reader)
    assert client.get(SIGNUP_URL).status_code == 302


def test_signups_are_rate_limited_per_address_with_a_clear_message(client, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "signup": (2, 3600)}
    for number in range(2):
        response = client.post(
            SIGNUP_URL,
            signup_data(username=f"new{number}", email=f"new{number}@example.com", display_name=f"N {number}"),
        )
        assert response.status_code == 302
        client.logout()
    response = client.post(SIGNUP_URL, signup_data(username="new2", email="new2@example.com", display_name="N 2"))
    assert response.status_code == 429
    assert "Too many new accounts from your network in a short time. Try again in 60 minutes." in (
        response.content.decode()
    )
    assert not User.objects.filter(username="new2").exists()


@pytest.mark.parametrize("username", ["\u0430lice", "al\u0456ce", "\u0430l\u0456c\u0435"])
def test_signup_refuses_a_username_that_looks_like_an_existing_one(client, username):
    UserFactory(username="alice")
    response = client.post(SIGNUP_URL, signup_data(username=username))
    assert response.status_code == 200
    assert "looks too much like" in response.context["form"].errors["username"][0]
    assert User.objects.count() == 1


@pytest.mark.parametrize("username", ["admin", "Staff", "\u0435ditor", "adm\u0131n", "r\u043e\u043et", "SUPPORT"])
def test_signup_refuses_reserved_names_and_their_look_alikes(client, username):
    response = client.post(SIGNUP_URL, signup_data(username=username))
    assert response.status_code == 200
    assert "reserved" in response.context["form"].errors["username"][0]
    assert not User.objects.exists()


@pytest.mark.parametrize("display_name", ["Grace Hopper", "grace hopper", "Grace \u0397opper", "gracie"])
def test_signup_refuses_a_display_name_copying_another_persons_name(client, display_name):
    UserFactory(username="gracie", display_name="Grace Hopper")
    response = client.post(SIGNUP_URL, signup_data(display_name=display_name))
    assert response.status_code == 200
    assert "looks too much like" in response.context["form"].errors["display_name"][0]
    assert not User.objects.filter(username="newreader").exists()


def test_signup_takes_names_that_only_resemble_others_loosely(client):
    UserFactory(username="alice", display_name="Alice Moreau")
    response = client.post(SIGNUP_URL, signup_data(username="alicia", display_name="Alice M."))
    assert response.status_code == 302
