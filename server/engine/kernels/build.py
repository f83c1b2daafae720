"""Building and loading the kernels' C++ sources, once per process and cached on disk across them."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import shutil
import time
from pathlib import Path

import torch

from common.errors import FailedPrecondition
from common.precision import cpu_flags

log = logging.getLogger(__name__)

# The ops' schemas are defined here, whether or not the sources build (each kernel's module registers
# the fake implementation torch.compile traces); the C++ adds the CPU implementations when loaded.
LIBRARY = torch.library.Library("tuneserve", "DEF")
LIBRARY.define("qlinear(Tensor x, Tensor packed, int bits, int out_features, Tensor[] prefetch, Tensor? prefetch_slots) -> Tensor")
LIBRARY.define("decode_attention(Tensor q, Tensor kv, Tensor slots, Tensor? mask, int kv_heads, float scale) -> Tensor")
LIBRARY.define(
    "lora_add(Tensor(a!) out, Tensor x, Tensor a, Tensor? a_scale, Tensor b, Tensor? b_scale,"
    " Tensor row_slots, Tensor ranks, Tensor members, int[] bounds) -> ()"
)

SOURCES = [Path(__file__).with_name(name) for name in ("qlinear.cpp", "decode_attention.cpp", "lora_add.cpp")]
HEADERS = [Path(__file__).with_name("simd.h")]
CPU_FLAGS = ("avx512f", "avx512bw", "avx512vl", "avx512_vnni", "f16c", "fma")
CFLAGS = ["-O3", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vnni", "-mf16c", "-mfma", "-fopenmp"]


def choose(setting: str, device: torch.device) -> tuple[bool, str]:
    """Whether the model step runs these kernels for the `cpu_kernels` setting ('auto', 'on' or 'off'), and why."""
    if setting == "off":
        return False, "aten's kernels (cpu_kernels is off)"
    reason = f"they are CPU kernels and the model runs on {device.type}" if device.type != "cpu" else unavailable_reason()
    if reason is None:
        return True, "tuneserve's C++ kernels (VNNI for the quantized weights, paged decode attention, LoRA rows)"
    if setting == "on":
        raise FailedPrecondition(f"cpu_kernels is 'on' but {reason}")
    return False, f"aten's kernels: {reason}"


@functools.cache
def unavailable_reason() -> str | None:
    """Builds and loads the kernels once per process; None when they are ready, else why they are not."""
    missing = [flag for flag in CPU_FLAGS if flag not in cpu_flags()]
    if missing:
        return f"the CPU lacks {', '.join(missing)}"
    if shutil.which("c++") is None and shutil.which("g++") is None:
        return "no C++ compiler on this machine"
    try:
        _build()
    except Exception as exc:  # a failed build costs speed (aten's kernels remain), never the server
        return f"building the C++ kernels failed: {type(exc).__name__}: {str(exc)[-300:]}"
    return None


def _build() -> None:
    from torch.utils import cpp_extension

    if shutil.which("ninja") is None:  # torch builds with ninja; the `ninja` package puts it beside
        import ninja  # the interpreter, which need not be on PATH

        os.environ["PATH"] = f"{ninja.BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}"
    started = time.monotonic()
    # One directory per version of the sources, flags and torch: a rebuild never overwrites a
    # library that a running server (of an older install) has loaded
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in [*SOURCES, *HEADERS]))
    digest.update(" ".join([*CFLAGS, torch.__version__]).encode())
    root = Path(os.environ.get("TORCH_EXTENSIONS_DIR") or Path.home() / ".cache" / "torch_extensions")
    directory = root / f"tuneserve_kernels-{digest.hexdigest()[:16]}"
    library = directory / "tuneserve_kernels.so"
    if library.is_file():
        # built before (the image builds them: `python -m server.engine.kernels.build`): loaded
        # as they are, with no compiler run and nothing written, so a read-only root works
        torch.ops.load_library(str(library))
        log.info("C++ kernels loaded", extra={"library": str(library), "seconds": round(time.monotonic() - started, 2)})
        return
    directory.mkdir(parents=True, exist_ok=True)
    # OpenMP comes from torch's own runtime (already loaded, same soname): one team of threads for
    # aten's kernels and these, never two spinning against each other
    cpp_extension.load(
        name="tuneserve_kernels",
        sources=[str(path) for path in SOURCES],
        extra_cflags=CFLAGS,
        build_directory=str(directory),
        is_python_module=False,
    )
    log.info("C++ kernels ready", extra={"sources": [s.name for s in SOURCES], "seconds": round(time.monotonic() - started, 1)})


if __name__ == "__main__":
    # Builds the kernels into TORCH_EXTENSIONS_DIR ahead of time (the CPU image does this when it is
    # built), so a new pod loads them instead of compiling for about half a minute
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    why_not = unavailable_reason()
    print("C++ kernels ready" if why_not is None else f"C++ kernels not built: {why_not}")
