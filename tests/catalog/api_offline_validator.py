"""Run ``stac-api-validator`` offline: schema URLs are answered from a local folder.

Usage: ``python -m tests.catalog.api_offline_validator SCHEMAS_DIR -- VALIDATOR ARGS...``
or ``python -m tests.catalog.api_offline_validator SCHEMAS_DIR --pystac ROOT_URL`` for the
validator's last step alone (pystac validation of the catalogue and its collections, which it
runs only when every other check passed).

stac-api-validator (through stac-validator, stac-check and pystac) downloads the STAC core and
extension JSON schemas it validates against. This wrapper answers every request for a URL listed
in ``SCHEMAS_DIR/index.json`` from the file it maps to, refuses every other request to a host
that is not local (so that nothing waits on a network that is not there, and no result depends
on it), and then runs the validator's own command-line entry point unchanged.
"""

from __future__ import annotations

import io
import json
import sys
import urllib.request
import urllib.response
from collections.abc import Callable, Mapping
from email.message import Message
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.error import URLError
from urllib.parse import urldefrag, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from catalog.stac_validation import PACKAGED

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def load_index(schemas_dir: Path) -> dict[str, Path]:
    """Schema URL (without fragment) -> local file; with the extension schemas KappaCat ships
    itself (web-map-links, for the links the API adds) where the folder has none."""
    index = json.loads((schemas_dir / "index.json").read_text(encoding="utf-8"))
    found = {urldefrag(url).url: schemas_dir / rel for url, rel in index.items()}
    packaged = files("catalog.schemas")
    for url, name in PACKAGED.items():
        found.setdefault(url, Path(str(packaged.joinpath(name))))
    return found


def _is_local(url: str) -> bool:
    return (urlsplit(url).hostname or "") in LOCAL_HOSTS


def install(schemas_dir: Path) -> None:
    """Patch ``requests``, ``urllib`` and ``urllib3`` to serve schema URLs from ``schemas_dir``."""
    files = load_index(schemas_dir)
    original_send: Callable[..., requests.Response] = HTTPAdapter.send

    def send(
        self: HTTPAdapter, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        url = request.url or ""
        path = files.get(urldefrag(url).url)
        if path is not None:
            response = requests.Response()
            response.status_code = 200
            response._content = path.read_bytes()
            response.headers["Content-Type"] = "application/json"
            response.url = url
            response.request = request
            response.encoding = "utf-8"
            return response
        if not _is_local(url):
            raise requests.ConnectionError(f"offline: refusing to fetch {url}", request=request)
        return original_send(self, request, *args, **kwargs)

    HTTPAdapter.send = send  # type: ignore[method-assign]

    original_urlopen = urllib.request.urlopen

    def urlopen(url: str | urllib.request.Request, *args: Any, **kwargs: Any) -> Any:
        full = url.full_url if isinstance(url, urllib.request.Request) else url
        path = files.get(urldefrag(full).url)
        if path is not None:
            headers: Mapping[str, str] = {"Content-Type": "application/json"}
            msg = Message()
            for k, v in headers.items():
                msg[k] = v
            return urllib.response.addinfourl(io.BytesIO(path.read_bytes()), msg, full, 200)
        if not _is_local(full):
            raise URLError(f"offline: refusing to fetch {full}")
        return original_urlopen(url, *args, **kwargs)

    urllib.request.urlopen = urlopen  # type: ignore[assignment]

    # pystac reads schemas with urllib3 directly when it is installed.
    original_request = urllib3.PoolManager.request

    def request(self: urllib3.PoolManager, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        path = files.get(urldefrag(url).url)
        if path is not None:
            return urllib3.response.HTTPResponse(
                body=io.BytesIO(path.read_bytes()),
                status=200,
                headers={"Content-Type": "application/json"},
                preload_content=False,
            )
        if not _is_local(url):
            raise OSError(f"offline: refusing to fetch {url}")
        return original_request(self, method, url, *args, **kwargs)

    urllib3.PoolManager.request = request  # type: ignore[method-assign]
    # Modules that imported the name before the patch keep their own reference.
    import pystac.stac_io
    import stac_validator.utilities

    for module in (stac_validator.utilities, pystac.stac_io):
        if hasattr(module, "urlopen"):
            module.urlopen = urlopen  # type: ignore[attr-defined]


def validate_with_pystac(root_url: str) -> None:
    """What stac-api-validator does last: validate the catalogue and its children with pystac."""
    from pystac_client import Client

    catalog = Client.open(root_url)
    catalog.validate()
    children = list(catalog.get_children())
    for child in children:
        child.validate()
    print(f"pystac: the catalogue and its {len(children)} collections are valid")


def main(argv: list[str]) -> None:
    """``SCHEMAS_DIR -- args`` -> the validator's exit status."""
    if len(argv) == 3 and argv[1] == "--pystac":
        install(Path(argv[0]))
        validate_with_pystac(argv[2])
        return
    if len(argv) < 2 or argv[1] != "--":
        raise SystemExit(__doc__)
    install(Path(argv[0]))
    from stac_api_validator.__main__ import main as validator_main

    validator_main(args=argv[2:], prog_name="stac-api-validator")


if __name__ == "__main__":
    main(sys.argv[1:])
