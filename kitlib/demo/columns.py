"""Row buffers and column builders, shared by the planner and the materialiser.

The planner keeps rows as small integers in a :class:`Store` and each distinct string once in a
:class:`Vocab`; the functions here build Arrow string columns (GUIDs, token ids, numbers as text)
without a Python loop per row, which is where the time would go in a large tenant.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

Arr = npt.NDArray[Any]


class Vocab:
    """Interns strings so rows carry small integers until the columns are materialised."""

    def __init__(self) -> None:
        self._index: dict[str, int] = {}
        self.items: list[str] = []

    def __call__(self, text: str) -> int:
        found = self._index.get(text)
        if found is None:
            found = len(self.items)
            self._index[text] = found
            self.items.append(text)
        return found

    def take(self, codes: Arr) -> Any:
        """The strings for ``codes`` as an Arrow string array (vectorised)."""
        return pc.take(pa.array(self.items, pa.string()), pa.array(codes, pa.int32()))


class Store:
    """Append-only columnar buffer; ``add`` returns the first row index of what it appended.

    Scalars are kept as scalars until :meth:`finish` (most sign-in batches are a few rows with
    mostly constant fields, and building a small array per field per batch is what costs).
    """

    def __init__(self, spec: dict[str, tuple[Any, Any]]) -> None:
        self.spec = spec
        self.chunks: dict[str, list[Any]] = {k: [] for k in spec}
        self.sizes: list[int] = []
        self.n = 0

    def add(self, n: int, **values: Any) -> int:
        start = self.n
        if n <= 0:
            return start
        for name in values:
            if name not in self.spec:
                raise TypeError(f"unknown field {name!r}")
        for name, (_, default) in self.spec.items():
            value = values.get(name, default)
            if isinstance(value, np.ndarray) and value.shape != (n,):
                raise ValueError(f"field {name}: {value.shape} rows, expected {n}")
            self.chunks[name].append(value)
        self.sizes.append(n)
        self.n += n
        return start

    def finish(self) -> dict[str, Arr]:
        bounds = np.concatenate([[0], np.cumsum(self.sizes, dtype=np.int64)]).tolist()
        out = {}
        for name, (dtype, _) in self.spec.items():
            column = np.empty(self.n, dtype=dtype)
            for i, value in enumerate(self.chunks[name]):
                column[bounds[i] : bounds[i + 1]] = value
            out[name] = column
        return out


def guid_array(rng: np.random.Generator, n: int) -> Any:
    """``n`` random version-4 GUID strings as an Arrow array, without a Python loop."""
    raw = np.frombuffer(bytearray(rng.bytes(16 * n)), dtype=np.uint8).reshape(n, 16)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexed = np.frombuffer(raw.tobytes().hex().encode("ascii"), dtype=np.uint8).reshape(n, 32)
    out = np.empty((n, 36), dtype=np.uint8)
    out[:, [8, 13, 18, 23]] = ord("-")
    out[:, 0:8] = hexed[:, 0:8]
    out[:, 9:13] = hexed[:, 8:12]
    out[:, 14:18] = hexed[:, 12:16]
    out[:, 19:23] = hexed[:, 16:20]
    out[:, 24:36] = hexed[:, 20:32]
    return fixed_width_strings(out)


def uti_bytes(rng: np.random.Generator, n: int) -> Arr:
    """Token identifiers shaped like real ``uti`` values (22 base64url characters ending AA)."""
    encoded = base64.urlsafe_b64encode(rng.bytes(15 * n))
    body = np.frombuffer(encoded, dtype=np.uint8).reshape(n, 20)
    out = np.empty((n, 22), dtype=np.uint8)
    out[:, :20] = body
    out[:, 20:] = ord("A")
    return out


def fixed_width_strings(matrix: Arr) -> Any:
    """Rows of an ``(n, width)`` ASCII byte matrix as an Arrow string array."""
    n, width = matrix.shape
    offsets = (np.arange(n + 1, dtype=np.int32) * width).astype(np.int32)
    data = np.ascontiguousarray(matrix, dtype=np.uint8)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def guid(rng: np.random.Generator) -> str:
    raw = bytearray(rng.bytes(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def join(*parts: Any) -> Any:
    """Element-wise concatenation of Arrow string arrays and Python strings."""
    return pc.binary_join_element_wise(*parts, "")


def int_text(values: Arr) -> Any:
    return pc.cast(pa.array(values, pa.int64()), pa.string())


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
