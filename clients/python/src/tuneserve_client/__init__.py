"""tuneserve client: typed sync and asyncio clients over the generated gRPC stubs."""

from tuneserve_client._requests import structured_output
from tuneserve_client.aio import AsyncClient
from tuneserve_client.client import DEFAULT_TARGET, Client
from tuneserve_client.errors import TuneserveError

__all__ = ["AsyncClient", "Client", "DEFAULT_TARGET", "TuneserveError", "structured_output"]
__version__ = "0.1.0"
