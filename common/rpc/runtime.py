"""What every tuneserve gRPC process shares: the server with its interceptors, health, reflection,
authentication, TLS, and the plaintext health-only port for probes."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer as AsyncHealthServicer
from grpc_reflection.v1alpha import reflection

from common.rpc.metrics import RpcMetrics
from common.rpc.status import StatusInterceptor
from common.security.auth import AuthInterceptor, TokenFile, announce, listen_host
from common.security.tls import server_credentials
from common.settings import SecuritySettings

log = logging.getLogger(__name__)


@dataclass
class Security:
    """The loaded tokens and TLS credentials of one process."""

    tokens: TokenFile | None
    credentials: grpc.ServerCredentials | None
    settings: SecuritySettings

    @classmethod
    def load(cls, settings: SecuritySettings) -> Security:
        """Reads the tokens file and certificates; OSError or ValueError saying which file is wrong."""
        tokens = TokenFile(settings.auth_tokens_file) if settings.auth_tokens_file is not None else None
        return cls(tokens, server_credentials(settings), settings)


def new_server(metrics: RpcMetrics, max_message_bytes: int, security: Security | None = None) -> grpc.aio.Server:
    # the status interceptor is outermost, so refusals by the auth interceptor are mapped and counted
    interceptors: list[grpc.aio.ServerInterceptor] = [StatusInterceptor(metrics)]
    if security is not None and security.tokens is not None:
        interceptors.append(AuthInterceptor(security.tokens))
    return grpc.aio.server(interceptors=interceptors, options=server_options(max_message_bytes, security))


def server_options(max_message_bytes: int, security: Security | None) -> list[tuple[str, int]]:
    """Message limits; connections aged out (see SecuritySettings) so balancing clients re-resolve;
    and no SO_REUSEPORT, so a second process on a taken port fails to start instead of silently
    sharing it."""
    options = [("grpc.max_receive_message_length", max_message_bytes), ("grpc.max_send_message_length", max_message_bytes)]
    options.append(("grpc.so_reuseport", 0))
    if security is not None:
        options.append(("grpc.max_connection_age_ms", int(security.settings.max_connection_age_s * 1000)))
        options.append(("grpc.max_connection_age_grace_ms", int(security.settings.max_connection_age_grace_s * 1000)))
    return options


def listen(server: grpc.aio.Server, host: str, port: int, security: Security) -> tuple[str, int]:
    """Binds the gRPC port (TLS when configured; loopback only without tokens unless allowed)."""
    bound_host = listen_host(host, security.tokens is not None, security.settings.allow_unauthenticated)
    announce(host, bound_host, security.tokens)
    if security.credentials is not None:
        mutual = security.settings.tls_client_ca_file is not None
        log.info("TLS on" + (" with client certificates required (mutual TLS)" if mutual else ""))
    return bound_host, bind(server, bound_host, port, security.credentials)


async def start_health_port(servicer: AsyncHealthServicer, host: str, port: int) -> tuple[grpc.aio.Server, int]:
    """A plaintext server with only the health service: Kubernetes gRPC probes cannot do TLS or tokens."""
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    bound = bind(server, host, port)
    await server.start()
    log.info("health-only port open", extra={"health": f"{host}:{bound}"})
    return server, bound


def add_health_and_reflection(server: grpc.aio.Server, service_names: list[str]) -> AsyncHealthServicer:
    servicer = AsyncHealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    reflection.enable_server_reflection([*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    return servicer


async def set_serving(servicer: AsyncHealthServicer, service_names: list[str], serving: bool) -> None:
    """Sets the overall status ("") and each service's status."""
    status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
    for name in ("", *service_names):
        await servicer.set(name, status)


def bind(server: grpc.aio.Server, host: str, port: int, credentials: grpc.ServerCredentials | None = None) -> int:
    """Adds the port (TLS with `credentials`); returns the bound port or raises OSError saying why not."""
    address = f"{host}:{port}"
    try:
        bound = server.add_secure_port(address, credentials) if credentials is not None else server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise OSError(f"cannot listen for gRPC on {address}: the address is in use or not local")
    return bound
