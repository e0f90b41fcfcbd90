"""An offline stand-in for the parts of Stripe's API that Credits uses; knows nothing of `app/`."""

from .app import create_app
from .config import API_VERSION
from .http_client import WSGIHTTPClient
from .sandbox import Sandbox

__all__ = ["API_VERSION", "Sandbox", "WSGIHTTPClient", "create_app"]
