# syntax=docker/dockerfile:1

# Builder and runtime use the same base image, so the virtual environment built here (its
# interpreter path and compiled wheels) runs unchanged in the runtime stage.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src

# Dependencies first, from the pinned list in pyproject.toml, so this layer is rebuilt only when
# pyproject.toml changes and not on every source edit.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt \
    && pip install -r requirements.txt

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
