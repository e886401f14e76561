"""Settings of the site the browser tests drive: the test settings, with static files served
straight from the project's folders (no collectstatic), as the development server serves them."""

from blogsite.settings.test import *  # noqa: F403

WHITENOISE_USE_FINDERS = True
