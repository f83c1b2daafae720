# One image for the inference server and the trainer; the command picks which.
#
#   docker build --build-arg FLAVOUR=cpu  -t tuneserve:0.1.0-cpu .
#   docker build --build-arg FLAVOUR=cuda -t tuneserve:0.1.0-cuda .
#   docker run -p 50051:50051 -p 8000:8000 tuneserve:0.1.0-cpu       # server (default command)
#   docker run tuneserve:0.1.0-cpu tuneserve-trainer                  # trainer
#
# The build stage runs scripts/install_runtime.sh, the script CI runs and smoke-tests
# (.ci/check-runtime), so what the image does is exercised without a Docker engine. The embedded
# model's converted cache is baked in: pods start without network.

ARG FLAVOUR=cpu

FROM python:3.11-slim-bookworm AS base-cpu
# torch's own CPU index: PyPI's default torch wheel is the CUDA build
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 AS base-cuda
ARG TORCH_INDEX_URL=""
# Ubuntu's python3 in both the build and the final stage, so the copied venv finds its interpreter.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*

# base-${FLAVOUR} is one of the two tagged stages above, which hadolint cannot resolve
# hadolint ignore=DL3006
FROM base-${FLAVOUR} AS build
ARG FLAVOUR
WORKDIR /src
COPY pyproject.toml README.md ./
COPY constraints/ constraints/
COPY clients/python/ clients/python/
COPY server/ server/
COPY trainer/ trainer/
COPY scripts/ scripts/
RUN FLAVOUR="${FLAVOUR}" sh scripts/install_runtime.sh /opt/tuneserve

# hadolint ignore=DL3006
FROM base-${FLAVOUR} AS runtime
ARG FLAVOUR
LABEL org.opencontainers.image.title="tuneserve" \
      org.opencontainers.image.description="gRPC serving of one quantized base LLM with hot-swappable LoRA adapters, and its trainer" \
      org.opencontainers.image.licenses="Apache-2.0" \
      io.tuneserve.flavour="${FLAVOUR}"
# The CPU flavour keeps g++: torch.compile builds the decode step in the background while the eager
# path already serves (server/engine/decode_graph.py). The C++ kernels (server/engine/kernels) were
# built by install_runtime.sh into /opt/tuneserve/torch_extensions and are only loaded, so a new pod
# is ready without compiling them; a build machine whose CPU cannot run them leaves them to the pod.
# hadolint ignore=DL3008
RUN if [ "${FLAVOUR}" = "cpu" ]; then \
        apt-get update && apt-get install -y --no-install-recommends g++ && rm -rf /var/lib/apt/lists/*; \
    fi
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /tmp --shell /usr/sbin/nologin tuneserve \
    && mkdir -p /var/lib/tuneserve \
    && chown 10001:10001 /var/lib/tuneserve
COPY --from=build /opt/tuneserve /opt/tuneserve
# The root filesystem may be read-only (the Helm chart makes it so): the baked cache is only read,
# and everything written (Hugging Face, matplotlib, the adapter store) goes to mounted volumes.
ENV PATH=/opt/tuneserve/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    HF_HOME=/tmp/huggingface \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    TUNESERVE_CACHE_DIR=/opt/tuneserve/cache \
    TORCH_EXTENSIONS_DIR=/opt/tuneserve/torch_extensions \
    TUNESERVE_HOST=0.0.0.0 \
    TUNESERVE_METRICS_HOST=0.0.0.0 \
    TUNESERVE_HEALTH_PORT=50060 \
    TUNESERVE_ADAPTER_STORE=/var/lib/tuneserve/adapters \
    TUNESERVE_WORK_DIR=/var/lib/tuneserve/trainer
USER 10001:10001
WORKDIR /tmp
EXPOSE 50051 8000 9090 50060
# Through the standard gRPC health protocol on the plaintext health-only port (works with TLS on).
HEALTHCHECK --interval=15s --timeout=5s --start-period=300s --retries=3 \
    CMD ["tuneserve", "--server", "127.0.0.1:50060", "--timeout", "4", "health"]
CMD ["tuneserve-server"]
