"""`python -m stripe_sandbox`: run the sandbox alone on 127.0.0.1."""

from __future__ import annotations

import argparse
import os

from werkzeug.serving import run_simple

from .app import create_app


def main(argv: list[str] | None = None) -> None:
    """Parse options and serve until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m stripe_sandbox", description="Offline Stripe sandbox for Credits."
    )
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--state", default=os.path.join("instance", "stripe-sandbox.sqlite3"))
    parser.add_argument("--webhook-url", help="where to POST events (omit to only record them)")
    parser.add_argument("--webhook-secret", default="whsec_sandbox", help="comma-separated")
    parser.add_argument("--public-url", help="base URL for hosted pages (default: this server)")
    parser.add_argument("--delivery-delay", type=float, default=1.0)
    parser.add_argument("--settle-seconds", type=float, default=10.0)
    parser.add_argument("--merchant-name", default="Credits")
    args = parser.parse_args(argv)
    app = create_app(
        {
            "STATE_PATH": args.state,
            "WEBHOOK_URL": args.webhook_url,
            "WEBHOOK_SECRET": args.webhook_secret,
            "PUBLIC_URL": args.public_url,
            "DELIVERY_DELAY": args.delivery_delay,
            "BANK_TRANSFER_SETTLE_SECONDS": args.settle_seconds,
            "MERCHANT_NAME": args.merchant_name,
        }
    )
    app.extensions["stripe_sandbox"].start_worker()
    print(f"Stripe sandbox on http://127.0.0.1:{args.port} (API: /v1, state: {args.state})")
    run_simple("127.0.0.1", args.port, app, threaded=True)


if __name__ == "__main__":
    main()
