from django.conf import settings


def site(request):
    """Site-wide names every template may show."""
    return {"SITE_NAME": settings.SITE_NAME, "SITE_DESCRIPTION": settings.SITE_DESCRIPTION}
