"""Which URLs the controller fetches images from, and how they appear in messages.

http and https only (file:// when the configuration allows local files; the caller turns it into a file
source); a host is required; credentials in the URL are refused, because the URL is kept in task records,
template metadata and the audit log.
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from jvp.errors import InvalidInput

MAX_URL = 4096


def redact(url: str) -> str:
    """The URL without its query string (signed URLs carry secrets there), for messages and logs."""
    parts = urlsplit(url)
    return parts._replace(query="", fragment="").geturl()


def check_url(url: str, *, allow_file: bool = False, field_name: str = "source.url") -> str:
    """The URL if JVP may fetch it; InvalidUrl or UnsupportedUrlScheme (400) otherwise."""
    def bad(msg: str, code: str = "InvalidUrl") -> InvalidInput:
        return InvalidInput(msg, code=code, details={"field_errors": {field_name: [msg]}, "url": url[:200]})
    if not isinstance(url, str) or not url or len(url) > MAX_URL or re.search(r"[\s\x00-\x1f\x7f]", url):
        raise bad(f"not a usable URL: at most {MAX_URL} characters, no spaces or control characters")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if not allow_file:
            raise bad("file:// URLs are refused: this server's configuration does not allow local files "
                      "(download.allow_file_urls); use an http:// or https:// URL", code="UnsupportedUrlScheme")
        return url
    if scheme not in ("http", "https"):
        raise bad(f"URL scheme '{parts.scheme or '(none)'}' is not supported: use http:// or https://",
                  code="UnsupportedUrlScheme")
    if not parts.hostname:
        raise bad("the URL has no host name")
    if parts.username or parts.password:
        raise bad("credentials in the URL are refused (they would be stored in task records and metadata)")
    try:
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError:
        raise bad("the URL's port is not a number between 1 and 65535") from None
    return url
