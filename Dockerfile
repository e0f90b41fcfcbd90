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
COPY pyproject.toml README.md requirements.lock ./
RUN pip install --require-hashes -r requirements.lock
COPY app ./app
COPY stripe_sandbox ./stripe_sandbox
RUN pip install --no-deps .
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
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"
CMD ["gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"]
