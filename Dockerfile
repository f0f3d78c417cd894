FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client postgresql zstd age \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.lock .
RUN pip install --no-cache-dir -r requirements.lock
COPY . .
ENV PYTHONUNBUFFERED=1 VAR_DIR=/app/var
RUN mkdir -p /app/var && SECRET_KEY=build python manage.py collectstatic --noinput -v0
EXPOSE 8000
CMD ["uvicorn", "pitchey_incidents.asgi:application", "--host", "0.0.0.0", "--port", "8000"]
