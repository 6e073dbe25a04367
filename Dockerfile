# syntax=docker/dockerfile:1
#
# cpa-reconciler in a small image: by default the drift daemon, and every other command too.
#
#   docker build -t cpa-reconciler:0.1.0 .
#   docker run --rm cpa-reconciler:0.1.0 --version
#   docker run --rm -v "$PWD/desired:/desired:ro" -e CPA_URL -e CPA_MANAGEMENT_KEY \
#       cpa-reconciler:0.1.0 plan /desired/desired-state.yaml
#
# Two stages. The builder turns the source into one wheel. The final stage installs only that
# wheel: every dependency is pure Python or ships manylinux wheels (pydantic-core, bcrypt,
# ruamel.yaml.clib), so no compiler is needed, and no pip cache, wheel or source tree is left.
# examples/docker/README.md explains how to run it; tests/container/ checks this file.

# One base for both stages. Python 3.11 is the version the test suite runs on; the tag pins
# the minor version and the Debian release (add @sha256:... for byte-for-byte rebuilds).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- builder: source -> wheel ------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

WORKDIR /src
COPY pyproject.toml README.md ./
COPY reconciler/ ./reconciler/
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# ---- final: the wheel, a non-root user, nothing else ---------------------------------------
FROM ${PYTHON_IMAGE}

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="cpa-reconciler" \
      org.opencontainers.image.description="Declarative reconciler (GitOps agent) for CLIProxyAPI: plan, apply and a drift daemon over the Management API" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="MIT"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed, unprivileged UID/GID (Kubernetes runAsUser / runAsNonRoot can check it) and the
# state directory (backups, lock) it owns. No home directory, no login shell.
RUN groupadd --system --gid 10001 reconciler \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /var/lib/reconciler --shell /usr/sbin/nologin reconciler \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/reconciler

# The wheel is bind-mounted from the builder for this one step, so it never lands in a layer.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir /wheels/*.whl

USER 10001:10001
WORKDIR /var/lib/reconciler
# Backups of everything an apply replaced or deleted, and the lock: keep them on a volume.
VOLUME ["/var/lib/reconciler"]
# /healthz, /readyz and /metrics.
EXPOSE 9464

# The slim image has no curl: Python's urllib raises (exit 1) on a refused connection, a
# timeout or any non-2xx answer. It probes the default --listen port below; a container
# started with another --listen needs its own health check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=4)"]

ENTRYPOINT ["reconciler"]
# 0.0.0.0: the health check, a published port and Kubernetes probes reach it from outside
# the process's loopback. The desired state is mounted read-only at /desired, so the state
# directory cannot be the default (.reconciler/ beside the desired file).
CMD ["daemon", "/desired/desired-state.yaml", "--listen", "0.0.0.0:9464", "--state-dir", "/var/lib/reconciler"]
