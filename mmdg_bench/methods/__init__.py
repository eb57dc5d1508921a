"""MMDG methods (RNA-Net, SimMMDG, MOOSA, CMRF, ...): modules and loss terms added to the shared
model, combinable with any gradient strategy. Every module of this package is imported, so a new
method is one file with a `@METHODS.register("name", ...)` class."""

from mmdg_bench.methods.base import METHODS, Method, MethodContext, attach_method
from mmdg_bench.registry import import_submodules

import_submodules(__name__)

__all__ = ["METHODS", "Method", "MethodContext", "attach_method"]
