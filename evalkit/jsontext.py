"""JSON text fast enough for a run's tail: the exports and per-sample rows of 100,000 samples.

``json.dumps(obj, indent=4)`` falls back to the pure-Python encoder (the C one takes no indent): about 40 µs per
export record, the largest cost after the last answer. :func:`pretty` writes the same bytes with the C string
encoder and one pass over the object; :func:`compact` is ``json.dumps(obj, ensure_ascii=False)`` without building
an encoder per call.
"""

from __future__ import annotations

import json
import json.encoder
from typing import Any

import msgspec

_INF = float("inf")
#: the string encoder ``json.dumps(..., ensure_ascii=False)`` uses (C where available)
_encode_str = json.encoder.encode_basestring


def _refuse(o: Any) -> Any:
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
#: json.dumps's own C encoder (markers, default, strings, indent, separators, sort_keys, skipkeys, allow_nan)
_c_compact: Any = None
if _c_make_encoder is not None:
    _c_compact = _c_make_encoder(None, _refuse, _encode_str, None, ": ", ", ", False, False, True)


def compact(obj: Any) -> str:
    """``json.dumps(obj, ensure_ascii=False)``, without building an encoder per call (``json.dumps`` builds two).

    No check for circular references (a cycle recurses until Python's limit).
    """
    if _c_compact is None:  # no C accelerator: the standard path
        return json.dumps(obj, ensure_ascii=False)
    return "".join(_c_compact(obj, 0))


def compact_value(obj: Any) -> str:
    """:data:`compact` with shortcuts for the common leaves (a string, an empty dict): one field of a record."""
    t = type(obj)
    if t is str:
        return _encode_str(obj)
    if t is dict and not obj:
        return "{}"
    if t is int:
        return int.__repr__(obj)
    return compact(obj)


def pretty(obj: Any, indent: int = 4) -> str:
    """Exactly ``json.dumps(obj, ensure_ascii=False, indent=indent)``, several times faster.

    Raises:
        TypeError: for what ``json.dumps`` refuses (an object it cannot encode, a key of an unsupported type).
    """
    out: list[str] = []
    _write(obj, out, "\n", " " * indent)
    return "".join(out)


def _float(x: float) -> str:
    if x != x:
        return "NaN"
    if x == _INF:
        return "Infinity"
    if x == -_INF:
        return "-Infinity"
    return float.__repr__(x)


def _key(k: Any) -> str:
    if isinstance(k, str):
        return k
    if isinstance(k, float):
        return _float(k)
    if k is True:
        return "true"
    if k is False:
        return "false"
    if k is None:
        return "null"
    if isinstance(k, int):
        return int.__repr__(k)
    raise TypeError(f"keys must be str, int, float, bool or None, not {k.__class__.__name__}")


def _write(o: Any, out: list[str], nl: str, step: str) -> None:
    # the order of the checks is json.encoder's: str, None, True, False, int, float, list/tuple, dict
    if isinstance(o, str):
        out.append(_encode_str(o))
    elif o is None:
        out.append("null")
    elif o is True:
        out.append("true")
    elif o is False:
        out.append("false")
    elif isinstance(o, int):
        out.append(int.__repr__(o))
    elif isinstance(o, float):
        out.append(_float(o))
    elif isinstance(o, list | tuple):
        if not o:
            out.append("[]")
            return
        inner = nl + step
        sep = "[" + inner
        for v in o:
            out.append(sep)
            _write(v, out, inner, step)
            sep = "," + inner
        out.append(nl + "]")
    elif isinstance(o, dict):
        _write_dict(o, out, nl, step)
    else:
        raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


def _write_dict(o: dict[Any, Any], out: list[str], nl: str, step: str) -> None:
    if not o:
        out.append("{}")
        return
    inner = nl + step
    sep = "{" + inner
    for k, v in o.items():
        head = sep + _encode_str(k if type(k) is str else _key(k)) + ": "
        t = type(v)  # the common leaves inline (exact types: subclasses take the general path)
        if t is str:
            out.append(head + _encode_str(v))
        elif t is int:
            out.append(head + int.__repr__(v))
        elif t is float:
            out.append(head + _float(v))
        elif t is dict:
            out.append(head)
            _write_dict(v, out, inner, step)
        else:
            out.append(head)
            _write(v, out, inner, step)
        sep = "," + inner
    out.append(nl + "}")


#: msgspec writes JSON 5-10x faster than json's C encoder, byte for byte the same as ``json.dumps`` (separators,
#: escapes, indentation, key order) for plain JSON values whose floats lie in [1e-4, 1e16): outside, the floats are
#: written otherwise (``1e-05`` / ``0.00001``, ``1e+16`` / ``1e16``, ``NaN`` / ``null``), so :func:`_msgspec_safe`
#: sends those to the encoders above.
_encode_msgspec = msgspec.json.Encoder().encode
_format_msgspec = msgspec.json.format


def _msgspec_safe(obj: Any) -> bool:
    """True when ``obj`` is plain JSON (dicts with string keys, lists, tuples, str, int, bool, None, floats) whose
    every float msgspec writes as ``json.dumps`` does."""
    todo = [obj]
    while todo:
        o = todo.pop()
        t = type(o)
        if t is dict:
            for k, v in o.items():
                if type(k) is not str:
                    return False
                tv = type(v)
                if tv is str or tv is int or v is None:
                    continue
                if tv is float:
                    if not (v == 0.0 or 1e-4 <= abs(v) < 1e16):  # NaN fails both
                        return False
                else:
                    todo.append(v)
        elif t is list or t is tuple:
            todo.extend(o)
        elif t is float:
            if not (o == 0.0 or 1e-4 <= abs(o) < 1e16):
                return False
        elif not (t is str or t is int or t is bool or o is None):
            return False
    return True


def compact_and_pretty(obj: Any, indent: int = 4) -> tuple[bytes, bytes]:
    """(``json.dumps(obj, ensure_ascii=False)``, ``json.dumps(obj, ensure_ascii=False, indent=indent)``) as UTF-8
    bytes, from one encoding where msgspec writes the same bytes."""
    raw = _encode_msgspec(obj) if _msgspec_safe(obj) else None
    if raw is None:
        return compact(obj).encode("utf-8"), pretty(obj, indent).encode("utf-8")
    return _format_msgspec(raw, indent=0), _format_msgspec(raw, indent=indent)


def pretty_bytes(obj: Any, indent: int = 4) -> bytes:
    """``json.dumps(obj, ensure_ascii=False, indent=indent)`` as UTF-8 bytes."""
    raw = _encode_msgspec(obj) if _msgspec_safe(obj) else None
    return pretty(obj, indent).encode("utf-8") if raw is None else _format_msgspec(raw, indent=indent)
