"""Fixtures of the OpenAI-compatible HTTP API's tests: a real server with its HTTP port (one per
test module) and the official `openai` client on it."""

from __future__ import annotations

import openai
import pytest

from tests.conftest import running_server
from tests.tools import free_port


@pytest.fixture(scope="module")
def http_server(base_model, cache_dir):
    with running_server(base_model, cache_dir, http_port=free_port(), warmup=True) as running:
        yield running


@pytest.fixture()
def oai(http_server):
    with openai.OpenAI(base_url=http_server.http_url, api_key="unused", max_retries=0, timeout=120) as client:
        yield client
