"""A stripe-python HTTP client that calls the sandbox's WSGI app in-process, no server needed."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from stripe import APIConnectionError
from stripe._http_client import HTTPClient
from werkzeug.datastructures import Headers
from werkzeug.test import EnvironBuilder, run_wsgi_app

WSGIApp = Callable[..., Any]


class WSGIHTTPClient(HTTPClient):
    """Serve requests for URLs under `base_url` by calling `wsgi_app` (the sandbox app).

    The path of `base_url` becomes SCRIPT_NAME, so pass the sandbox app itself, not a
    dispatcher that mounts it.
    """

    name = "stripe-sandbox-wsgi"

    def __init__(self, wsgi_app: WSGIApp, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.wsgi_app = wsgi_app
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._script_root = parts.path

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        **_: Any,
    ) -> tuple[bytes, int, Headers]:
        """Run one request through the WSGI app and return (body, status, headers)."""
        if not url.startswith(self.base_url + "/"):
            raise APIConnectionError(
                f"WSGIHTTPClient only serves URLs under {self.base_url}, not {url}",
                should_retry=False,
            )
        parts = urlsplit(url)
        builder = EnvironBuilder(
            path=parts.path[len(self._script_root) :],
            base_url=self._origin + self._script_root,
            query_string=parts.query,
            method=method.upper(),
            headers=dict(headers or {}),
            data=post_data.encode() if isinstance(post_data, str) else post_data,
        )
        try:
            environ = builder.get_environ()
        finally:
            builder.close()
        app_iter, status, response_headers = run_wsgi_app(self.wsgi_app, environ, buffered=True)
        try:
            body = b"".join(app_iter)
        finally:
            close = getattr(app_iter, "close", None)
            if close is not None:
                close()
        return body, int(status.split(" ", 1)[0]), response_headers

    def request_stream(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        **_: Any,
    ) -> tuple[io.BytesIO, int, Headers]:
        """Like `request`, with the body as a stream."""
        body, status, response_headers = self.request(method, url, headers, post_data)
        return io.BytesIO(body), status, response_headers

    async def request_async(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        **_: Any,
    ) -> tuple[bytes, int, Headers]:
        """Serve the async API too (the app runs synchronously in-process)."""
        return self.request(method, url, headers, post_data)

    def close(self) -> None:
        """Nothing to release: there is no connection."""

    async def close_async(self) -> None:
        """Nothing to release: there is no connection."""
