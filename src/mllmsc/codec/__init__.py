"""Importance-aware deep JSCC (IA-JSCC): the model, the allocation and its side information.

>>> from mllmsc.codec import IAJSCC, allocate, allocate_uniform, symbol_budget
>>> model = IAJSCC.from_pretrained(path)
>>> budget = symbol_budget(1 / 16, H, W)
>>> alloc = allocate(importance, budget, k_max=model.k_max, reserved=model.header_symbols)
>>> out = model(x, alloc.k, 10.0, channel, importance=importance)

or, as the link does it, with the allocator block both ends hold:

>>> allocator = allocator_for(model, "importance")      # cell, k_max and header from the model
>>> alloc = allocator.allocate(importance, budget)      # transmitter
>>> same = allocator.receive(alloc.side_bits, budget, H, W)   # receiver, from the bits alone
"""

from mllmsc.codec.allocation import (
    ALLOCATORS,
    Allocator,
    BudgetError,
    ImportanceAllocator,
    UniformAllocator,
    allocate,
    allocate_uniform,
    allocation_from_levels,
    allocator_for,
    decode_side_info,
    encode_side_info,
    side_info_symbols,
    symbol_budget,
)
from mllmsc.codec.model import (
    IAJSCC,
    CodecOutput,
    Encoded,
    IAJSCCConfig,
    sent_mask,
)

__all__ = [
    "ALLOCATORS",
    "Allocator",
    "ImportanceAllocator",
    "UniformAllocator",
    "allocator_for",
    "BudgetError",
    "IAJSCC",
    "CodecOutput",
    "Encoded",
    "IAJSCCConfig",
    "allocate",
    "allocate_uniform",
    "allocation_from_levels",
    "decode_side_info",
    "encode_side_info",
    "sent_mask",
    "side_info_symbols",
    "symbol_budget",
]
