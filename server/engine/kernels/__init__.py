"""C++ kernels of the model step, built from their source here with the machine's compiler at first
use and cached by torch.utils.cpp_extension; where one cannot be built, its callers use aten's.

Imports torch and `common` only.
"""
