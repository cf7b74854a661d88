"""A small reader and writer of safetensors files, with numpy arrays.

The format: an 8-byte little-endian header length N, N bytes of JSON
{name: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]},
 "__metadata__": {str: str}}, then the raw little-endian data, offsets
relative to the end of the header. Supported dtypes: F32, F64, I64, I32,
F16 and BF16 (BF16 is read into float32, since numpy has no bfloat16).
"""

import json
import struct

import numpy as np

# safetensors dtype name -> numpy dtype of its stored bytes.
_STORED = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
}
_NAME_OF = {
    np.dtype("float64"): "F64",
    np.dtype("float32"): "F32",
    np.dtype("float16"): "F16",
    np.dtype("int64"): "I64",
    np.dtype("int32"): "I32",
}
# Headers larger than this are refused (the reference implementation's
# bound), so a corrupt length cannot make us allocate gigabytes.
_MAX_HEADER = 100_000_000


class SafetensorsError(ValueError):
    """A file that is not a valid safetensors file; the message names it."""


def bf16_bits_to_f32(bits):
    """bfloat16 bit patterns (uint16) -> float32: the high half of a float."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16_bits(values):
    """float32 -> bfloat16 bits, rounding to nearest even (NaN stays NaN)."""
    wide = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    # Adding 0x7FFF plus the lowest kept bit rounds half to even.
    rounded = (wide + 0x7FFF + ((wide >> 16) & 1)) >> 16
    nan = np.isnan(values)
    rounded = np.where(nan, (wide >> 16) | 0x40, rounded)
    return rounded.astype(np.uint16)


def read_safetensors(path):
    """Returns ({name: np.ndarray}, {metadata key: value}) of a file."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise SafetensorsError(f"{path}: {len(data)} bytes, shorter than the "
                               "8-byte header length")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > _MAX_HEADER or 8 + header_len > len(data):
        raise SafetensorsError(f"{path}: header length {header_len} does not "
                               f"fit the file of {len(data)} bytes")
    try:
        header = json.loads(data[8:8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{path}: header is not JSON: {e}") from e
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: header is not a JSON object")
    body = memoryview(data)[8 + header_len:]
    metadata = header.pop("__metadata__", None) or {}
    tensors = {}
    for name, entry in header.items():
        try:
            dtype_name = entry["dtype"]
            shape = [int(s) for s in entry["shape"]]
            begin, end = (int(o) for o in entry["data_offsets"])
        except (KeyError, TypeError, ValueError) as e:
            raise SafetensorsError(
                f"{path}: tensor '{name}': expected dtype, shape and "
                f"data_offsets, got {entry!r}") from e
        if dtype_name not in _STORED:
            raise SafetensorsError(
                f"{path}: tensor '{name}': dtype {dtype_name} is not one of "
                f"{sorted(_STORED)}")
        stored = _STORED[dtype_name]
        count = int(np.prod(shape, dtype=np.int64))
        if not 0 <= begin <= end <= len(body) or \
                end - begin != count * stored.itemsize:
            raise SafetensorsError(
                f"{path}: tensor '{name}': data_offsets [{begin}, {end}] do "
                f"not hold {dtype_name}{shape} inside {len(body)} data bytes")
        array = np.frombuffer(body[begin:end], dtype=stored).reshape(shape)
        if dtype_name == "BF16":
            array = bf16_bits_to_f32(array)
        tensors[name] = array.copy()
    return tensors, dict(metadata)


def write_safetensors(path, tensors, metadata=None, bf16=()):
    """Writes {name: array} (names sorted); names in `bf16` are stored BF16.

    The header is padded with spaces to a multiple of 8 bytes, as the
    reference writer does, so every tensor's data starts 8-byte aligned.
    """
    header = {}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        array = np.asarray(tensors[name])
        if name in bf16:
            raw = f32_to_bf16_bits(array.astype(np.float32))
            dtype_name = "BF16"
        else:
            if array.dtype not in _NAME_OF:
                raise SafetensorsError(
                    f"{path}: tensor '{name}' has dtype {array.dtype}, not "
                    f"one of {sorted(str(d) for d in _NAME_OF)}")
            dtype_name = _NAME_OF[array.dtype]
            raw = array.astype(array.dtype.newbyteorder("<"), copy=False)
        raw = np.ascontiguousarray(raw).tobytes()
        header[name] = {"dtype": dtype_name, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for chunk in chunks:
            f.write(chunk)
