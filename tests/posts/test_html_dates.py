"""posts_dates's html_datetime: <time datetime> values HTML accepts."""

from datetime import UTC, date, datetime, timedelta, timezone

from django.template import Context, Template
from django.test import override_settings

from posts.templatetags.posts_dates import html_datetime


def test_microseconds_are_left_out():
    assert html_datetime(datetime(2025, 3, 1, 9, 30, 5, 123456, tzinfo=UTC)) == "2025-03-01T09:30:05+00:00"


@override_settings(TIME_ZONE="Europe/Paris")
def test_an_aware_datetime_is_shown_in_the_current_time_zone():
    moment = datetime(2025, 7, 1, 12, 0, 0, 999, tzinfo=timezone(timedelta(hours=-5)))
    assert html_datetime(moment) == "2025-07-01T19:00:00+02:00"


def test_dates_and_missing_values():
    assert html_datetime(date(2025, 3, 1)) == "2025-03-01"
    assert html_datetime(None) == ""


def test_the_filter_in_a_template():
    rendered = Template('{% load posts_dates %}<time datetime="{{ when|html_datetime }}">').render(
        Context({"when": datetime(2025, 3, 1, 9, 30, 0, 500000, tzinfo=UTC)})
    )
    assert rendered == '<time datetime="2025-03-01T09:30:00+00:00">'
