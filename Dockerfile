# Image for web, worker and beat (docker-compose.yml). Python packages come from uv.lock (the
# lock `make test` and CI install from), the chart library from package-lock.json (npm ci);
# front-end assets are collected at build time and nothing is fetched from a CDN at run time.

# The chart library: only the packages package-lock.json names, at its versions.
FROM node:20-slim AS assets
WORKDIR /assets
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# The runtime part of uv.lock (no test tools) into /opt/venv; uv itself stays in this stage.
FROM python:3.12-slim AS python-deps
ARG UV_VERSION=0.13.9
ENV UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/opt/venv UV_LINK_MODE=copy
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN pip install --no-cache-dir "uv==${UV_VERSION}" \
    && uv sync --locked --no-cache --python /usr/local/bin/python

FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/venv/bin:$PATH
WORKDIR /app
COPY --from=python-deps /opt/venv /opt/venv
COPY . .
COPY --from=assets /assets/node_modules ./node_modules
# Settings add node_modules/chart.js/dist to the static files when it exists; the test makes
# a missing chart library fail the build instead of shipping dashboards without charts.
RUN DEBUG=true python manage.py collectstatic --noinput --verbosity 0 \
    && test -f staticfiles/vendor/chartjs/chart.umd.min.js
RUN useradd --create-home --uid 10001 switchboard \
    && mkdir -p /app/.run && chown switchboard /app/.run
USER 10001
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "2"]
