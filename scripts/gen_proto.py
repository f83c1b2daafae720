"""Regenerates the Python stubs of proto/ into clients/python/src and the Node client's types into
clients/node/src/generated, or checks they are current.

python scripts/gen_proto.py          # regenerate
python scripts/gen_proto.py --check  # exit 1 when the committed stubs or types differ from proto/

The Node types come from @grpc/proto-loader's generator (installed by `make install` where npm
is); without it they are skipped with a note, unless TUNESERVE_REQUIRE_TOOLS is set (CI).
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
OUT_DIR = ROOT / "clients" / "python" / "src"
PACKAGE = Path("tuneserve") / "v1"
NODE_DIR = ROOT / "clients" / "node"
NODE_OUT = NODE_DIR / "src" / "generated"
NODE_GENERATOR = NODE_DIR / "node_modules" / ".bin" / "proto-loader-gen-types"
# the same options the client loads the protos with (clients/node/src/index.js), so the types
# describe the objects it really sends and receives
NODE_OPTIONS = ["--longs=Number", "--enums=String", "--defaults", "--oneofs", "--includeComments", "--grpcLib=@grpc/grpc-js"]


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


def generate_node(out: Path) -> bool:
    """The Node client's types into `out`; False where the generator is not installed."""
    if not NODE_GENERATOR.exists():
        if os.environ.get("TUNESERVE_REQUIRE_TOOLS"):
            raise SystemExit(f"{NODE_GENERATOR} is missing: run `make install` with npm on the PATH")
        print(f"note: {NODE_GENERATOR.relative_to(ROOT)} is not installed; the Node client's types were not generated")
        return False
    protos = [*(f"tuneserve/v1/{name}.proto" for name in ("inference", "tasks", "adapters", "trainer")), "grpc/health/v1/health.proto"]
    out.mkdir(parents=True, exist_ok=True)
    # run from the client's directory with a relative include, so the files name their proto alike anywhere
    subprocess.run([str(NODE_GENERATOR), *NODE_OPTIONS, "-I", "../../proto", "-O", str(out), *protos], check=True, cwd=NODE_DIR)
    return True


def generated_files(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def stale_files(fresh: Path, committed: Path) -> list[str]:
    expected, actual = generated_files(fresh), generated_files(committed) if committed.exists() else set()
    return sorted(
        str(committed.relative_to(ROOT) / p)
        for p in expected | actual
        if p not in expected or p not in actual or not filecmp.cmp(fresh / p, committed / p, shallow=False)
    )


def check() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(fresh / "python")
        stale = stale_files(fresh / "python" / "tuneserve", OUT_DIR / "tuneserve")
        if generate_node(fresh / "node"):
            stale += stale_files(fresh / "node", NODE_OUT)
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
    shutil.rmtree(NODE_OUT, ignore_errors=True)
    if generate_node(NODE_OUT):
        print(f"Node types written to {NODE_OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
