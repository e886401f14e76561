"""Reading JSON that browsers and scripts send, so that hostile JSON is refused rather than a 500.

`json.loads` raises RecursionError on deeply nested input (100,000 `[`), reads integers of any
size where the database's integers have 64 bits, and accepts NaN and Infinity, which JSON does not
have. Every JSON endpoint reads its body here and answers a JsonInputError with a 400 (or, on the
AI writer's socket, an `invalid` event); what each field must hold stays the caller's check.
"""

import json
from typing import Any

MAX_INTEGER = 2**63 - 1  # the database's BIGINT; ids and versions are never larger


class JsonInputError(ValueError):
    """The body is not JSON this site reads; the message says why, for the person who sent it."""


def json_parse(raw: bytes | str) -> Any:
    """The JSON value in `raw`; raises JsonInputError for invalid or hostile JSON."""
    try:
        return json.loads(raw, parse_int=_integer, parse_constant=_constant, parse_float=_float)
    except RecursionError:
        raise JsonInputError("The JSON is nested too deeply.") from None
    except JsonInputError:
        raise
    except ValueError:  # JSONDecodeError and UnicodeDecodeError among them
        raise JsonInputError("The request was not valid JSON.") from None


def _integer(digits: str) -> int:
    value = int(digits)
    if not -MAX_INTEGER - 1 <= value <= MAX_INTEGER:
        raise JsonInputError("Numbers in the request must fit in 64 bits.")
    return value


def _float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise JsonInputError("The request was not valid JSON: a number is too large.")
    return value


def _constant(name: str) -> float:
    raise JsonInputError(f"The request was not valid JSON: {name} is not a JSON value.")
