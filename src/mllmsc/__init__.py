"""mllmsc: MLLM-guided semantic communication (MLLM-SC, arXiv 2507.04621).

Public API; heavy backends (transformers, diffusers) are imported lazily by the modules that
need them, so ``import mllmsc`` stays cheap.
"""

__version__ = "0.1.0"
