# The Vitrine API image: gunicorn serving backend.app:create_app().
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY pyproject.toml README.md alembic.ini ./
COPY backend backend
COPY embedder embedder
COPY migrations migrations
RUN pip install --no-cache-dir .

ENV VITRINE_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8000
# Migrate, then serve; with a Qdrant server several workers may share it.
CMD ["sh", "-c", "vitrine migrate && vitrine serve --bind 0.0.0.0:8000 --workers ${WEB_CONCURRENCY:-2}"]
