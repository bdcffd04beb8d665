# syntax=docker/dockerfile:1

# Builder and runtime use the same base image, so the virtual environment built here (its
# interpreter path and compiled wheels) runs unchanged in the runtime stage.
#
# The exact Python release and Debian suite, not the moving `3.11-slim`. To pin the content as
# well, add the digest your registry reports for this tag and commit it:
#   docker buildx imagetools inspect python:3.11.14-slim-bookworm   # "Digest: sha256:…"
#   ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:…
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src

# Dependencies first, exactly as locked (every package and version, nothing resolved at build
# time), so this layer is rebuilt only when the lock changes and not on every source edit.
COPY requirements.lock ./
RUN pip install --no-deps -r requirements.lock \
    && pip check

COPY pyproject.toml ./
COPY README.md ./
COPY graphql_api ./graphql_api
COPY resolvers ./resolvers
COPY integrations ./integrations
COPY conversation ./conversation
RUN pip install --no-deps . \
    && sureflights --help > /dev/null


FROM ${PYTHON_IMAGE} AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    APP_ENV=production

RUN groupadd --system --gid 10001 sureflights \
    && useradd --system --uid 10001 --gid sureflights --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin sureflights

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
# The default DATABASE_URL (sqlite:///./var/sureflights.db) writes here.
RUN mkdir -p /app/var && chown -R sureflights:sureflights /app

USER sureflights

EXPOSE 8000

# slim images have no curl; the standard library is enough.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=4)"]

CMD ["sureflights", "serve", "--host", "0.0.0.0", "--port", "8000"]
