from types import SimpleNamespace

import pytest

from accounts import throttle


@pytest.mark.parametrize(
    ("remote_addr", "counted_as"),
    [
        ("198.51.100.7", "198.51.100.7"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("", None),
        ("not an address", None),
    ],
)
def test_client_address(remote_addr, counted_as):
    assert throttle.client_address(SimpleNamespace(META={"REMOTE_ADDR": remote_addr})) == counted_as


@pytest.mark.parametrize(
    ("seconds", "text"), [(1, "1 second"), (45, "45 seconds"), (60, "1 minute"), (61, "2 minutes"), (900, "15 minutes")]
)
def test_wait_text_rounds_up(seconds, text):
    assert throttle.wait_text(seconds) == text


def test_usernames_share_a_counter_whatever_their_letter_case(settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    throttle.login_failure_record(username="Reader", address=None)
    throttle.login_failure_record(username="reader ", address=None)
    assert 0 < throttle.login_lockout_seconds(username="READER", address=None) <= settings.LOGIN_LOCKOUT_SECONDS
    throttle.login_failures_clear(username="reader")
    assert throttle.login_lockout_seconds(username="Reader", address=None) == 0
