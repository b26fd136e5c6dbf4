# syntax=docker/dockerfile:1
#
# The notifier in a container.
#
# Configuration comes from the environment, as NOTIFIER_<SECTION>__<KEY>
# (NOTIFIER_HTTP__PUBLIC_URL, NOTIFIER_SMS__ACCOUNT_SID, ...), secrets included:
# NOTIFIER_SECURITY__SECRET_KEY (16+ characters), NOTIFIER_SMS__AUTH_TOKEN,
# NOTIFIER_EMAIL__PASSWORD. Or mount a TOML file and name it with NOTIFIER_CONFIG
# (every key is in /app/config/notifier.example.toml); the environment
# overrides the file:
#   docker run -v ./notifier.toml:/etc/notifier/notifier.toml:ro \
#              -e NOTIFIER_CONFIG=/etc/notifier/notifier.toml ...
#
# The message templates are installed with the package. For your own wording, mount
# a folder of the six edited copies (ar, zh, en, fr, ru, es .toml, from notifier/templates
# in the repository) and name it:
#   docker run -v ./templates:/etc/notifier/templates:ro \
#              -e NOTIFIER_MESSAGES__TEMPLATES_DIR=/etc/notifier/templates ...
#
# The database defaults to SQLite in the /data volume. `serve` refuses a database
# whose schema is not current, so create or migrate it once before the first
# start, and again after each upgrade of the image:
#   docker run --rm -v notifier-data:/data <image> db upgrade
#   docker run -d -p 8080:8080 -v notifier-data:/data --env-file notifier.env <image>
# Other commands run the same way, e.g. with the sample files in /app/contacts (the
# working directory is /app), or a file of yours mounted into the container:
#   docker run --rm -v notifier-data:/data <image> stations import contacts/stations.csv
#   docker run --rm -v notifier-data:/data -v ./staff.csv:/staff.csv:ro <image> \
#              roster import /staff.csv
#
# A bind mount instead of a named volume must be writable by uid 10001.
# The inbound e-mail listener (port 2525) is off by default; to receive replies set
# NOTIFIER_EMAIL__INBOUND__ENABLED=true and NOTIFIER_EMAIL__INBOUND__HOST=0.0.0.0.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# Every dependency ships wheels for CPython 3.11 on Linux: no compiler needed.
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# README.md* : the readme is optional for the build (pyproject names it).
COPY pyproject.toml README.md* ./
# The package brings its migrations and message templates (package data in pyproject.toml).
COPY notifier/ ./notifier/
RUN pip install --no-cache-dir .


FROM python:3.11-slim
RUN groupadd --system --gid 10001 notifier \
    && useradd --system --uid 10001 --gid notifier --no-create-home \
       --home-dir /app --shell /usr/sbin/nologin notifier \
    && mkdir -p /data \
    && chown notifier:notifier /data
# Same base image and same path as in the build stage, so the venv works as is.
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# Sample stations and rosters (`notifier demo` and the example above read them from
# here), and the example configuration. Only the example of config/: its templates
# link points into the source tree, which is not in this image.
COPY contacts/ ./contacts/
COPY config/notifier.example.toml ./config/
ENV PATH=/opt/venv/bin:$PATH \
    NOTIFIER_DATABASE__URL=sqlite+aiosqlite:////data/notifier.db \
    NOTIFIER_HTTP__HOST=0.0.0.0 \
    PYTHONUNBUFFERED=1
USER notifier
# Declared after the chown, so a new named volume starts out owned by notifier.
VOLUME /data
EXPOSE 8080 2525
# Healthy when /healthz answers 200 (the database answers); an error status (urlopen
# raises), no answer or a timeout exits 1: unhealthy. python's urllib, as slim images
# have no curl. It follows NOTIFIER_HTTP__PORT, not a port set in a config file.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('NOTIFIER_HTTP__PORT', '8080'), timeout=4); sys.exit(0 if r.status == 200 else 1)"]
# The daemon stops cleanly on SIGTERM (`docker stop`), letting requests under way finish
# within http.shutdown_grace_seconds (10 s). docker stop sends SIGKILL after 10 s: if you
# raise the grace, raise `docker run --stop-timeout` to match.
ENTRYPOINT ["notifier"]
CMD ["serve"]
