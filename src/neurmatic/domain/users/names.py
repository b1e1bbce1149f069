"""What a username may be: the API's sign-up and the ops kit's ``users create-admin`` check the same rule."""

from __future__ import annotations

import re

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,49}$")
USERNAME_RULE = "3-50 characters: letters, digits, '_' or '-', starting with a letter or digit"


def is_valid_username(value: str) -> bool:
    return USERNAME.match(value) is not None
