"""Regenerates the Python stubs of proto/ into clients/python/src, or checks they are current.

python scripts/gen_proto.py          # regenerate
python scripts/gen_proto.py --check  # exit 1 when the committed stubs differ from proto/
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
OUT_DIR = ROOT / "clients" / "python" / "src"
PACKAGE = Path("tuneserve") / "v1"


def generate(out: Path) -> None:
    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in (PROTO_DIR / PACKAGE).glob("*.proto"))
    (out / PACKAGE).mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{PROTO_DIR}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            f"--pyi_out={out}",
            *protos,
        ],
        check=True,
    )
    for package_dir in (out / "tuneserve", out / PACKAGE):
        (package_dir / "__init__.py").write_text('"""Generated from proto/ by scripts/gen_proto.py."""\n')


def generated_files(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in (root / "tuneserve").rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def check() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(fresh)
        expected, actual = generated_files(fresh), generated_files(OUT_DIR)
        stale = sorted(
            str(p)
            for p in expected | actual
            if p not in expected or p not in actual or not filecmp.cmp(fresh / p, OUT_DIR / p, shallow=False)
        )
    if stale:
        print("generated stubs are stale; run `make proto` and commit:", *stale, sep="\n  ")
        return 1
    print("generated stubs match proto/")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    if parser.parse_args().check:
        return check()
    shutil.rmtree(OUT_DIR / "tuneserve", ignore_errors=True)
    generate(OUT_DIR)
    print(f"stubs written to {OUT_DIR / 'tuneserve'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
