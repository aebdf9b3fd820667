# signoff server image: `signoff serve` with the PostgreSQL store (see docs/deployment.md).
# Build: docker build -t signoff .      Run several of these against one PostgreSQL database.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
# The server extra (FastAPI, uvicorn, inbox) and the postgres extra (psycopg 3 + its pool).
RUN pip install ".[server,postgres]" \
    && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin signoff

USER signoff
EXPOSE 8080
# /healthz: the process serves requests (no token, no database round trip; /readyz asks the database).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]

ENTRYPOINT ["signoff"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
