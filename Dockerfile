# Image for web, worker and beat (docker-compose.yml). Front-end assets are collected at
# build time; nothing is fetched from a CDN at run time.
FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
RUN pip install --no-cache-dir --upgrade pip
COPY . .
RUN pip install --no-cache-dir -e . \
    && DEBUG=true python manage.py collectstatic --noinput --verbosity 0
RUN useradd --create-home switchboard && mkdir -p /app/.run && chown switchboard /app/.run
USER switchboard
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "2"]
