import time

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import aauthenticate
from django.urls import reverse

from accounts import throttle
from tests.redis_server import free_port

pytestmark = pytest.mark.django_db

LOGIN_URL = reverse("accounts:login")
ADMIN_LOGIN_URL = "/admin/login/"
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _small_limits(settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 5
    settings.LOGIN_LOCKOUT_SECONDS = 600


def sign_in(client, username, password, *, address="198.51.100.7", url=LOGIN_URL):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=address)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_login_with_the_right_password_signs_in_and_goes_home(client, reader):
    response = sign_in(client, "reader", PASSWORD)
    assert response.status_code == 302
    assert response.url == "/"
    assert signed_in(client)


def test_login_follows_next(client, reader):
    response = client.post(f"{LOGIN_URL}?next=/editor/", {"username": "reader", "password": PASSWORD})
    assert response.url == "/editor/"


def test_wrong_password_is_refused_with_a_message(client, reader):
    response = sign_in(client, "reader", "wrong")
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert not signed_in(client)


def test_logout_needs_a_post(client, reader):
    client.force_login(reader)
    assert client.get(reverse("accounts:logout")).status_code == 405
    assert signed_in(client)
    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert not signed_in(client)


def test_failures_from_other_addresses_never_refuse_the_owner_from_a_clean_address(client, reader):
    # Anyone can read a username off an author page and fail on purpose from many addresses.
    for number in range(6):
        sign_in(client, "reader", "wrong", address=f"198.51.100.{number + 1}")
    response = sign_in(client, "reader", PASSWORD, address="192.0.2.50")
    assert response.status_code == 302
    assert signed_in(client)


def test_a_locked_account_refuses_even_the_right_password_from_an_address_that_failed_on_it(client, reader):
    # Each try comes from a different address, so only the account's counter can lock it.
    for number in range(3):
        sign_in(client, "reader", "wrong", address=f"198.51.100.{number + 1}")
    response = sign_in(client, "reader", PASSWORD, address="198.51.100.1")
    page = response.content.decode()
    assert response.status_code == 200
    assert "Too many failed sign-in attempts" in page
    assert "try again in 10 minutes" in page
    assert not signed_in(client)


def test_repeated_failures_from_one_address_lock_that_pair_before_the_address(client, reader, author):
    for _ in range(3):
        sign_in(client, "reader", "wrong", address="203.0.113.9")
    assert (
        "Too many failed sign-in attempts"
        in sign_in(client, "reader", PASSWORD, address="203.0.113.9").content.decode()
    )
    # The address itself has failures left, and other accounts sign in from it.
    assert sign_in(client, "author", PASSWORD, address="203.0.113.9").status_code == 302


def test_the_failure_that_reaches_the_limit_already_explains_the_lockout(client, reader):
    sign_in(client, "reader", "wrong")
    sign_in(client, "reader", "wrong")
    page = sign_in(client, "reader", "wrong").content.decode()
    assert "Too many failed sign-in attempts" in page


def test_repeated_failures_from_one_address_lock_it_for_every_account(client, reader, author):
    for number in range(5):
        sign_in(client, f"nobody{number}", "guess", address="203.0.113.9")
    response = sign_in(client, "author", PASSWORD, address="203.0.113.9")
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert not signed_in(client)
    # The accounts themselves are not locked: from elsewhere they sign in.
    assert sign_in(client, "author", PASSWORD, address="192.0.2.50").status_code == 302


def test_ipv6_clients_are_counted_per_64_block(client, reader):
    for suffix in ("1", "2", "3", "4", "5"):
        sign_in(client, f"nobody{suffix}", "guess", address=f"2001:db8:1:2::{suffix}")
    response = sign_in(client, "reader", PASSWORD, address="2001:db8:1:2::ffff")
    assert "Too many failed sign-in attempts" in response.content.decode()


def test_a_successful_login_clears_the_accounts_failures_and_that_addresss(client, reader):
    for _ in range(2):
        sign_in(client, "reader", "wrong")
    assert sign_in(client, "reader", PASSWORD).status_code == 302
    client.logout()
    for _ in range(2):
        sign_in(client, "reader", "wrong")
    assert sign_in(client, "reader", PASSWORD).status_code == 302


def test_a_successful_login_clears_the_accounts_failures(client, reader):
    sign_in(client, "reader", "wrong", address="198.51.100.1")
    sign_in(client, "reader", "wrong", address="198.51.100.2")
    assert sign_in(client, "reader", PASSWORD, address="198.51.100.3").status_code == 302
    client.logout()
    sign_in(client, "reader", "wrong", address="198.51.100.4")
    sign_in(client, "reader", "wrong", address="198.51.100.5")
    assert sign_in(client, "reader", PASSWORD, address="198.51.100.6").status_code == 302


def test_the_lockout_ends_when_the_window_passes(client, reader, settings):
    settings.LOGIN_LOCKOUT_SECONDS = 1
    for number in range(3):
        sign_in(client, "reader", "wrong", address=f"198.51.100.{number + 1}")
    assert "try again in 1 second" in sign_in(client, "reader", PASSWORD, address="198.51.100.1").content.decode()
    time.sleep(1.1)
    assert sign_in(client, "reader", PASSWORD, address="198.51.100.1").status_code == 302


def test_admin_login_is_throttled_too(client, staff):
    for number in range(3):
        sign_in(client, "staff", "wrong", address=f"198.51.100.{number + 1}", url=ADMIN_LOGIN_URL)
    response = sign_in(client, "staff", PASSWORD, address="198.51.100.3", url=ADMIN_LOGIN_URL)
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert not signed_in(client)
    assert client.get("/admin/").status_code == 302


def test_admin_login_is_not_locked_for_staff_by_failures_from_other_addresses(client, staff):
    for number in range(6):
        sign_in(client, "staff", "wrong", address=f"198.51.100.{number + 1}", url=ADMIN_LOGIN_URL)
    assert sign_in(client, "staff", PASSWORD, address="192.0.2.50", url=ADMIN_LOGIN_URL).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_admin_and_site_failures_share_one_counter(client, staff):
    sign_in(client, "staff", "wrong", url=ADMIN_LOGIN_URL)
    sign_in(client, "staff", "wrong", url=LOGIN_URL)
    sign_in(client, "staff", "wrong", url=ADMIN_LOGIN_URL)
    assert "Too many failed sign-in attempts" in sign_in(client, "staff", PASSWORD).content.decode()


def test_admin_login_works_for_staff(client, staff):
    response = sign_in(client, "staff", PASSWORD, url=ADMIN_LOGIN_URL)
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_async_authentication_is_throttled_too(reader):
    # async_to_sync keeps the database work on this test's connection.
    authenticate_async = async_to_sync(aauthenticate)
    for _ in range(3):
        assert authenticate_async(username="reader", password="wrong") is None
    assert authenticate_async(username="reader", password=PASSWORD) is None


@pytest.fixture
def unreachable_cache(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }


def test_login_still_works_when_the_cache_is_unreachable(client, reader, unreachable_cache):
    assert throttle.login_lockout_seconds(username="reader", address="198.51.100.7") == 0
    assert "Please enter a correct username" in sign_in(client, "reader", "wrong").content.decode()
    assert sign_in(client, "reader", PASSWORD).status_code == 302
    assert signed_in(client)
    assert client.get(reverse("accounts:profile")).status_code == 200
    assert client.post(reverse("accounts:logout")).status_code == 302
    assert not signed_in(client)


def test_signing_out_tells_the_browser_to_clear_what_it_kept_for_this_site(client, reader):
    # The editor keeps unsaved text in the browser; the next person at a shared computer must not find it.
    client.force_login(reader)
    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert response["Clear-Site-Data"] == '"storage"'
