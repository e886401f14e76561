"""What happened to people's public profiles: signals that accounts.services sends after each write.

Posts show their author's name and link to their author page, and comments show their
author's name, so the posts app refreshes those pages when these fire. accounts cannot import
posts (imports run posts -> accounts), hence signals of its own.
"""

from django.dispatch import Signal

# A user's public profile changed: `user`, `previous_username`, and `name_changed` (True when the
# name or username shown on posts and comments changed).
public_profile_changed = Signal()

# A user is about to be deleted, with what they wrote that other pages show: `user`. Sent inside
# the deletion's transaction, before the rows go, so listeners can still find them.
public_profile_removed = Signal()
