import re

import pytest
from django.core import mail
from django.urls import reverse

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "quiet lanterns over amber hills"


def test_password_change_needs_sign_in(client):
    response = client.get(reverse("accounts:password_change"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


def test_password_change_replaces_the_password_and_keeps_you_signed_in(client, reader):
    client.force_login(reader)
    response = client.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.url == reverse("accounts:password_change_done")
    reader.refresh_from_db()
    assert reader.check_password(NEW_PASSWORD)
    assert client.get(reverse("accounts:password_change_done")).status_code == 200


def test_password_change_with_a_wrong_current_password_is_refused(client, reader):
    client.force_login(reader)
    response = client.post(
        reverse("accounts:password_change"),
        {"old_password": "not it", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert "Your old password was entered incorrectly" in response.content.decode()
    reader.refresh_from_db()
    assert reader.check_password(PASSWORD)


def reset_link(email_body: str) -> str:
    return re.search(r"https?://testserver(/accounts/reset/\S+/)", email_body).group(1)


def test_password_reset_email_link_sets_a_new_password(client, reader):
    response = client.post(reverse("accounts:password_reset"), {"email": reader.email.upper()})
    assert response.url == reverse("accounts:password_reset_done")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [reader.email]
    assert message.subject == "Reset your password on Blogsite"

    form_page = client.get(reset_link(message.body), follow=True)
    assert "Choose a new password" in form_page.content.decode()
    set_password_url = form_page.redirect_chain[-1][0]
    done = client.post(set_password_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done.url == reverse("accounts:password_reset_complete")

    login = client.post(reverse("accounts:login"), {"username": "reader", "password": NEW_PASSWORD})
    assert login.status_code == 302


def test_a_used_reset_link_no_longer_works(client, reader):
    client.post(reverse("accounts:password_reset"), {"email": reader.email})
    link = reset_link(mail.outbox[0].body)
    set_password_url = client.get(link, follow=True).redirect_chain[-1][0]
    client.post(set_password_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert "This link no longer works" in client.get(link, follow=True).content.decode()


def test_password_reset_for_an_unknown_address_sends_nothing_and_reveals_nothing(client):
    response = client.post(reverse("accounts:password_reset"), {"email": "nobody@example.com"})
    assert response.url == reverse("accounts:password_reset_done")
    assert mail.outbox == []


def test_password_reset_ends_a_lockout(client, reader, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    for address in ("198.51.100.1", "198.51.100.2"):
        client.post(reverse("accounts:login"), {"username": "reader", "password": "x"}, REMOTE_ADDR=address)
    client.post(reverse("accounts:password_reset"), {"email": reader.email})
    set_password_url = client.get(reset_link(mail.outbox[0].body), follow=True).redirect_chain[-1][0]
    client.post(set_password_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    login = client.post(reverse("accounts:login"), {"username": "reader", "password": NEW_PASSWORD})
    assert login.status_code == 302


def change_password(client, old_password: str, *, address: str = "198.51.100.7"):
    data = {"old_password": old_password, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    return client.post(reverse("accounts:password_change"), data, REMOTE_ADDR=address)


def test_wrong_current_passwords_on_password_change_are_throttled_like_sign_in(client, reader, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    client.force_login(reader)
    for _ in range(3):
        change_password(client, "guess")
    response = change_password(client, PASSWORD)
    assert "Too many failed sign-in attempts" in response.content.decode()
    reader.refresh_from_db()
    assert reader.check_password(PASSWORD)


def test_password_change_failures_count_towards_sign_in_from_that_address(client, reader, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    client.force_login(reader)
    for _ in range(3):
        change_password(client, "guess")
    client.logout()
    login = client.post(
        reverse("accounts:login"), {"username": "reader", "password": PASSWORD}, REMOTE_ADDR="198.51.100.7"
    )
    assert "Too many failed sign-in attempts" in login.content.decode()


def test_password_reset_is_rate_limited_per_address(client, reader, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "password_reset": (2, 3600)}
    for _ in range(2):
        assert client.post(reverse("accounts:password_reset"), {"email": reader.email}).status_code == 302
    response = client.post(reverse("accounts:password_reset"), {"email": reader.email})
    assert response.status_code == 429
    assert "Too many password reset requests in a short time. Try again in 60 minutes." in response.content.decode()
    assert len(mail.outbox) == 2


def test_password_reset_is_rate_limited_per_email_address_whatever_the_network(client, reader, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "password_reset_email": (2, 3600)}
    for number in range(3):
        client.post(
            reverse("accounts:password_reset"), {"email": reader.email.upper()}, REMOTE_ADDR=f"192.0.2.{number}"
        )
    assert len(mail.outbox) == 2
