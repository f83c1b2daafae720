"""Reloading TLS files (no server): what gRPC is told on each handshake's check."""

from __future__ import annotations

import logging
import os
import time

import pytest

from common.security import tls
from common.security.tls import CertificateFiles
from tests.certs import CertificateAuthority


@pytest.fixture()
def files(tmp_path, monkeypatch):
    monkeypatch.setattr(tls, "RELOAD_CHECK_S", 0.0)
    ca = CertificateAuthority(tmp_path, "ca")
    pem = ca.issue("server", server=True)
    return CertificateFiles(pem.key, pem.cert, ca.pem.cert), pem, ca


def touch(path):
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))


def test_unchanged_files_keep_the_current_configuration(files):
    certificates, _, _ = files
    assert certificates.fetch() is None and certificates.mutual


def test_changed_files_give_a_new_configuration_once(files):
    certificates, pem, ca = files
    fresh = ca.issue("fresh", server=True)
    pem.cert.write_bytes(fresh.cert.read_bytes())
    pem.key.write_bytes(fresh.key.read_bytes())
    touch(pem.cert)
    assert certificates.fetch() is not None
    assert certificates.fetch() is None


def test_a_broken_rotation_keeps_the_previous_certificates_and_says_so(files, caplog):
    certificates, pem, _ = files
    pem.key.write_text("half a key")
    touch(pem.key)
    with caplog.at_level(logging.ERROR, logger="common.security.tls"):
        assert certificates.fetch() is None
    assert "not a PEM file" in caplog.text and "not reloaded" in caplog.text
    pem.key.unlink()
    assert certificates.fetch() is None


def test_a_missing_file_at_start_names_it(tmp_path):
    with pytest.raises(OSError, match="absent.key"):
        CertificateFiles(tmp_path / "absent.key", tmp_path / "absent.crt", None)
