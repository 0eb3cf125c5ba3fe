# newsmon service image: slim, non-root, dependencies from the same lock file `make install` uses.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN groupadd --system newsmon && useradd --system --gid newsmon --home-dir /app --shell /usr/sbin/nologin newsmon
WORKDIR /app
RUN python -m pip install --no-cache-dir "uv==0.13.8"
COPY requirements.lock ./
RUN uv pip install --system --no-cache -r requirements.lock
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY classifiers ./classifiers
COPY consumers ./consumers
COPY config ./config
RUN uv pip install --system --no-cache --no-deps . \
    && newsmon train --if-stale \
    && chown -R newsmon:newsmon /app
USER newsmon
ENV NEWSMON_LOG_FORMAT=json
ENTRYPOINT ["newsmon"]
CMD ["run"]
