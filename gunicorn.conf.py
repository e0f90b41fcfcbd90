"""Gunicorn settings for production; each can be overridden from the environment."""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")  # noqa: S104 - the container's port
# Eight requests at once, as four processes of two threads: a request spends much of its time
# waiting on the database, and fewer threads per process wait less for the GIL (fulfilment
# ran about an eighth faster than with two processes of four threads; benchmarks/README.md).
# Without REDIS_URL each worker keeps its own rate-limit counts.
workers = int(os.environ.get("GUNICORN_WORKERS", "4"))
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
max_requests = 20000
max_requests_jitter = 2000
