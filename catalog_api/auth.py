"""API-key authentication for the write (transaction) routes."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence

from fastapi import Request
from pydantic import SecretStr

from catalog_api.errors import NotAuthenticated


def require_api_key(keys: Sequence[SecretStr]) -> Callable[[Request], None]:
    """A dependency that lets a request through only with one of ``keys``."""
    secrets = [k.get_secret_value().encode() for k in keys]

    def check(request: Request) -> None:
        given = request.headers.get("x-api-key")
        auth = request.headers.get("authorization", "")
        if given is None and auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        if given and any(hmac.compare_digest(given.encode(), s) for s in secrets):
            return
        raise NotAuthenticated(
            "this route needs an API key (X-API-Key header or Authorization: Bearer)",
            headers={"WWW-Authenticate": "Bearer"},
        )

    return check
