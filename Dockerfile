# evalkit for GPU hosts: CUDA 13 runtime (the CUDA line of vllm 0.33's torch 2.14.0 wheels), Python 3.12,
# evalkit with the `vllm` and `hf` extras, and run_eval.sh as the entry point.
#   docker build -t evalkit .
#   docker run --gpus all --ipc=host -e OPENAI_API_KEY -e HF_TOKEN \
#     -v "$PWD/eval_results:/app/eval_results" -v "$HOME/.cache/huggingface:/root/.cache/huggingface" \
#     evalkit --serve --model Qwen2.5-Omni-3B --dataset interleaved --judge coherence
# The host needs an NVIDIA driver for CUDA 13 (>= 580) and the NVIDIA Container Toolkit.
FROM nvidia/cuda:13.0.1-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHON=/opt/venv/bin/python \
    HF_HOME=/root/.cache/huggingface

# Triton and FlashInfer compile small kernels and launchers at run time: they need a C compiler and Python's
# headers. ffmpeg decodes audio and video for the media samplers. Versions come with the Ubuntu release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        python3 python3-venv python3-dev build-essential ffmpeg ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv

WORKDIR /app
# Dependencies first: this layer (GBs of wheels) is rebuilt only when pyproject.toml or the package changes.
COPY pyproject.toml README.md ./
COPY evalkit ./evalkit
# DL3013 wants pinned pip installs: this installs the local package, whose extras pin vllm (and so torch).
# hadolint ignore=DL3013
RUN pip install --no-cache-dir '.[vllm,hf]'

COPY run.py run_eval.sh config.yaml ./
COPY data ./data

ENTRYPOINT ["/app/run_eval.sh"]
CMD ["--help"]
