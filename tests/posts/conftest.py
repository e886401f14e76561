import pytest
from django.test import Client


@pytest.fixture
def client_for(db):
    """A test client signed in as the given user: `client_for(editor).get(url)`."""

    def signed_in(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return signed_in
