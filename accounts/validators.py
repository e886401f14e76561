"""Validators shared by the account forms and services."""

from django.core.validators import URLValidator

avatar_url_validator = URLValidator(
    schemes=["https"], message="Enter a full https:// address for the picture, e.g. https://example.com/me.jpg."
)
