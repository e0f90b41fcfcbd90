# Credits: production image. Run migrations once per release with
#   docker run --env-file .env IMAGE flask db upgrade
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    APP_ENV=production \
    FLASK_APP=wsgi \
    INSTANCE_PATH=/app/instance

WORKDIR /app
# The dependencies come from the lock file; the app runs from /app itself (one copy of the
# code, beside its templates and static files), not from an installed package.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock
COPY app ./app
COPY stripe_sandbox ./stripe_sandbox
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
COPY wsgi.py gunicorn.conf.py ./

RUN useradd --create-home --uid 10001 credits \
    && mkdir -p /app/instance \
    && chown credits:credits /app/instance
USER credits

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD python -c "import os,sys,urllib.request; port = os.environ.get('GUNICORN_BIND', ':8000').rsplit(':', 1)[1]; sys.exit(urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4).status != 200)"
CMD ["gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"]
