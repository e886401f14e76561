"""Validators shared by the account forms and services."""

from django.core.validators import URLValidator

# Its own code, so form fields show this message rather than their generic "Enter a valid URL."
avatar_url_validator = URLValidator(
    schemes=["https"],
    message="Enter a full https:// address for the picture, e.g. https://example.com/me.jpg.",
    code="invalid_https_url",
)
