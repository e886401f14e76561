"""Names that look alike: Unicode's confusable skeletons (UTS #39), computed by ICU's spoof checker.

Two names whose skeletons are equal look the same on a page (`аlice` with a Cyrillic а and
`alice`; `admın` with a dotless ı and `admin`).
"""

import threading
import unicodedata

import icu

# Names that would pass for the site speaking; nobody signs up as them or anything like them.
RESERVED_USERNAMES = ("admin", "staff", "editor", "root", "support")

# A checker per thread: ICU objects are not shared between threads unless documented as safe.
_local = threading.local()


def _checker() -> icu.SpoofChecker:
    if not hasattr(_local, "checker"):
        _local.checker = icu.SpoofChecker()
    return _local.checker


def name_skeletons(name: str) -> tuple[str, str]:
    """Two forms under which `name` equals every name that looks like it; ("", "") for a blank name.

    Usernames are compared without regard to letter case, so both are case-folded; the first is
    the skeleton of the folded name (`ADMIN` is `admin`), the second the skeleton of the folded
    skeleton, for capitals that look like other letters only as capitals (a Greek `Η` is an `H`).
    Two names look alike when any of their forms are equal.
    """
    folded = _fold(name)
    if not folded:
        return "", ""
    return _skeleton(folded), _skeleton(_fold(_skeleton(unicodedata.normalize("NFKC", " ".join(name.split())))))


def _fold(name: str) -> str:
    return unicodedata.normalize("NFKC", " ".join((name or "").split()).casefold())


def _skeleton(text: str) -> str:
    return _checker().getSkeleton(0, text)


_RESERVED_SKELETONS = frozenset(skeleton for name in RESERVED_USERNAMES for skeleton in name_skeletons(name))


def is_reserved(username: str) -> bool:
    """Whether `username` is one of RESERVED_USERNAMES or looks like one."""
    return not _RESERVED_SKELETONS.isdisjoint(name_skeletons(username))
