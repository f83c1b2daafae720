"""TLS credentials of the gRPC port, re-read when the certificate files change.

cert-manager and Kubernetes rotate a mounted TLS Secret in place; gRPC asks for the current
certificate configuration on new handshakes, and this answers from the files, checking their
stamps at most once per second. Connections already open keep the certificate they started with.
A rotation caught half-way (files missing or unreadable) keeps the previous certificates.
"""

from __future__ import annotations

import logging
from pathlib import Path

import grpc

from common.security.file_changes import FileChanges
from common.settings import SecuritySettings

log = logging.getLogger(__name__)

RELOAD_CHECK_S = 1.0


class CertificateFiles:
    """The server's key, chain and (for mutual TLS) client CA, as files."""

    def __init__(self, key: Path, chain: Path, client_ca: Path | None) -> None:
        self.paths = [key, chain, *([client_ca] if client_ca is not None else [])]
        self.mutual = client_ca is not None
        self._changes = FileChanges(self.paths, RELOAD_CHECK_S)
        self.initial = self._configuration()

    def _configuration(self) -> grpc.ServerCertificateConfiguration:
        key, chain, *ca = (path.read_bytes() for path in self.paths)
        for path, data in zip(self.paths, (key, chain, *ca), strict=True):
            if b"-----BEGIN" not in data:
                raise ValueError(f"{path}: not a PEM file")
        return grpc.ssl_server_certificate_configuration([(key, chain)], root_certificates=ca[0] if ca else None)

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """gRPC's callback: a new configuration when the files changed, else None (keep the current)."""
        if not self._changes.poll():
            return None
        try:
            configuration = self._configuration()
        except (OSError, ValueError) as exc:
            log.error(f"TLS certificates not reloaded ({exc}); the previous ones stay in use")
            return None
        log.info("TLS certificates reloaded", extra={"files": [str(p) for p in self.paths]})
        return configuration

    def credentials(self) -> grpc.ServerCredentials:
        # grpc's stub types the callback as never returning None; None is how it keeps the current certificates
        return grpc.dynamic_ssl_server_credentials(self.initial, self.fetch, require_client_authentication=self.mutual)  # type: ignore[arg-type]


def server_credentials(settings: SecuritySettings) -> grpc.ServerCredentials | None:
    """TLS credentials from the settings' files, or None for plaintext; OSError/ValueError naming a bad file."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    return CertificateFiles(settings.tls_key_file, settings.tls_cert_file, settings.tls_client_ca_file).credentials()
