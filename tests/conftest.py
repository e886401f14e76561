import pytest
from django.core.cache import cache

from accounts.roles import Role
from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def _clear_cache():
    """Each test starts with an empty cache in the run's private Redis."""
    cache.clear()
    yield


@pytest.fixture
def reader(db):
    return UserFactory(username="reader", role=Role.READER)


@pytest.fixture
def author(db):
    return UserFactory(username="author", role=Role.AUTHOR)


@pytest.fixture
def other_author(db):
    return UserFactory(username="other_author", role=Role.AUTHOR)


@pytest.fixture
def editor(db):
    return UserFactory(username="editor", role=Role.EDITOR)


@pytest.fixture
def staff(db):
    return UserFactory(username="staff", role=Role.STAFF)
