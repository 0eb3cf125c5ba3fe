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
# The code, config and models/ stay root's and read-only: the runtime user must not be able to replace what the
# classifier loads (nor rename /app/models away). It may write only under /app/var.
RUN uv pip install --system --no-cache --no-deps . \
    && newsmon train --if-stale \
    && chown -R root:root /app \
    && chmod -R go-w /app \
    && install -d -o newsmon -g newsmon /app/var
USER newsmon
ENV NEWSMON_LOG_FORMAT=json
ENTRYPOINT ["newsmon"]
CMD ["run"]
