"""API-key authentication for the write (transaction) routes.

A key comes in ``X-API-Key: KEY`` or ``Authorization: Bearer KEY``. One rule for both: the
request is authenticated when any credential it carries is a valid key, so an empty or stale
header of one kind never hides a valid one of the other.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence

from fastapi import Request
from pydantic import SecretStr
from starlette.datastructures import Headers

from catalog_api.errors import NotAuthenticated


class KeyCheck:
    """Whether the headers of a request carry one of the configured keys."""

    def __init__(self, keys: Sequence[SecretStr]) -> None:
        self._secrets = [k.get_secret_value().encode() for k in keys]

    def _valid(self, given: str) -> bool:
        value = given.strip().encode()
        # compare with every key, valid or not, so the time taken says nothing about them
        matches = [hmac.compare_digest(value, secret) for secret in self._secrets]
        return bool(value) and any(matches)

    def __call__(self, headers: Headers) -> bool:
        """True when a credential in ``headers`` is one of the keys."""
        given = headers.getlist("x-api-key")
        for auth in headers.getlist("authorization"):
            scheme, _, token = auth.strip().partition(" ")
            if scheme.lower() == "bearer":
                given.append(token)
        return any(self._valid(g) for g in given)


def require_api_key(keys: Sequence[SecretStr]) -> Callable[[Request], None]:
    """A dependency that lets a request through only with one of ``keys``."""
    check = KeyCheck(keys)

    def dependency(request: Request) -> None:
        if check(request.headers):
            return
        raise NotAuthenticated(
            "this route needs an API key (X-API-Key header or Authorization: Bearer)",
            headers={"WWW-Authenticate": "Bearer"},
        )

    return dependency
