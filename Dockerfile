# One image for every role: `docker run IMAGE serve | web | worker` (serve is the default).
#
#   docker build -t replyguard .                                   # the shipped default model
#   docker build -t replyguard --build-arg REPLYGUARD_MODEL=original .   # bake a Detoxify model in
#   docker build -t replyguard-web --build-arg REPLYGUARD_EXTRAS= .      # web and deliver only
#
# The model is fetched at build time, never at run time: the container runs offline.
FROM python:3.11-slim

ARG REPLYGUARD_MODEL=default
# The scoring extra: torch, transformers, Detoxify (about 1.5 GB). Empty builds an image for
# `web` and `deliver` nodes without them (and without a baked model); there `serve` and
# `worker` stop at once saying the extra is missing.
ARG REPLYGUARD_EXTRAS=scoring
# A CPU build of torch keeps the image small; point this at a CUDA index for GPU workers.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    REPLYGUARD_DATA_DIR=/data \
    REPLYGUARD_MODEL_DIR=/opt/replyguard/models \
    REPLYGUARD_MODEL=${REPLYGUARD_MODEL} \
    REPLYGUARD_HOST=0.0.0.0 \
    REPLYGUARD_OPS_HOST=0.0.0.0 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1

WORKDIR /opt/replyguard
RUN if [ -n "${REPLYGUARD_EXTRAS}" ]; then \
        pip install --index-url "${TORCH_INDEX_URL}" torch==2.13.0; \
    fi

COPY pyproject.toml README.md schema.sql ./
COPY moderation ./moderation
COPY service ./service
RUN pip install -e ".${REPLYGUARD_EXTRAS:+[${REPLYGUARD_EXTRAS}]}"

# Bake the chosen model in while the build still has a network.
RUN if [ -n "${REPLYGUARD_EXTRAS}" ] && [ "${REPLYGUARD_MODEL}" != "default" ]; then \
        HF_HUB_OFFLINE=0 TRANSFORMERS_OFFLINE=0 replyguard download-model "${REPLYGUARD_MODEL}"; \
    fi

# REPLYGUARD_OPS_HOST=0.0.0.0 lets Prometheus and an orchestrator's readiness probe reach
# /readyz and /metrics on port 8081 from other containers; it is not EXPOSEd and must never
# be published to the world (publish it on the host's loopback at most: -p 127.0.0.1:8081:8081).

# Run as an ordinary user (PostgreSQL itself will not run as root).
RUN useradd --create-home --uid 10001 replyguard && mkdir -p /data && chown replyguard /data
USER replyguard
VOLUME ["/data"]
EXPOSE 8080

# serve and web are healthy while /healthz answers on their public port; worker and deliver
# while they run (service/cli/healthcheck.py). Readiness (GET /readyz) is on port 8081.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-m", "service.cli.healthcheck"]
ENTRYPOINT ["replyguard"]
CMD ["serve"]
