"""Test-wide guards: no test reaches a real model provider or the internet."""

from __future__ import annotations

import os

# LiteLLM reads these on first use: offline price map, and httpx (which respx can see)
# instead of aiohttp.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ["DISABLE_AIOHTTP_TRANSPORT"] = "True"
