"""Deterministic plain-English "captions" for media that no CPU model here can caption.

Each ``describe_*`` function reads a file and returns a short description built from measurable facts
(sizes, colour names, OCR text, point-cloud extents, video properties, speech transcript). They raise
:class:`FileNotFoundError` for a missing file and :class:`ValueError` for an unreadable one.
"""

from __future__ import annotations

import functools
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from evalkit.embedded.whisper import WhisperTranscriber

FloatArray = npt.NDArray[np.float64]

MAX_DOCUMENT_CHARS = 2000
_IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
_TEXT_SUFFIXES = frozenset({".txt", ".md", ".csv"})
_MIN_COLOUR_SHARE = 0.05
_MAX_COLOURS = 4
_OFF_MAGIC = frozenset({"OFF", "COFF", "NOFF", "CNOFF"})

# Hue sectors (degrees, upper bound exclusive) of saturated colours.
_HUE_NAMES: tuple[tuple[float, str], ...] = (
    (15.0, "red"),
    (40.0, "orange"),
    (70.0, "yellow"),
    (165.0, "green"),
    (195.0, "cyan"),
    (255.0, "blue"),
    (315.0, "purple"),
    (345.0, "pink"),
    (360.0, "red"),
)


def _require_file(path: Path) -> None:
    """Raise FileNotFoundError unless ``path`` is an existing file."""
    if not path.is_file():
        raise FileNotFoundError(f"file not found: {path}")


# --------------------------------------------------------------------------------------------- colours


def _colour_names(rgb: npt.NDArray[Any]) -> npt.NDArray[np.str_]:
    """Name every colour of an ``(..., 3)`` RGB array (0-255) with a small palette, via HSV thresholds."""
    values = np.asarray(rgb, dtype=np.float64) / 255.0
    high = values.max(axis=-1)
    low = values.min(axis=-1)
    chroma = high - low
    saturation = np.where(high > 0, chroma / np.where(high > 0, high, 1.0), 0.0)
    hue = _hue_degrees(values, high, chroma)
    names = np.full(high.shape, "gray", dtype="<U8")
    bound_low = 0.0
    for bound, name in _HUE_NAMES:
        names[(hue >= bound_low) & (hue < bound)] = name
        bound_low = bound
    brownish = np.isin(names, ["orange", "yellow"]) & (high < 0.65) & (saturation > 0.25)
    names[brownish] = "brown"
    names[(names == "red") & (saturation < 0.5) & (high > 0.7)] = "pink"
    grey = saturation < 0.2
    names[grey & (high >= 0.85)] = "white"
    names[grey & (high < 0.85)] = "gray"
    names[high < 0.18] = "black"
    return names


def _hue_degrees(values: FloatArray, high: FloatArray, chroma: FloatArray) -> FloatArray:
    """Return the HSV hue in degrees [0, 360) of RGB ``values`` in [0, 1]."""
    red, green, blue = values[..., 0], values[..., 1], values[..., 2]
    safe = np.where(chroma > 0, chroma, 1.0)
    hue = np.where(
        high == red,
        ((green - blue) / safe) % 6.0,
        np.where(high == green, (blue - red) / safe + 2.0, (red - green) / safe + 4.0),
    )
    return np.where(chroma > 0, hue * 60.0, 0.0) % 360.0


def colour_name(rgb: tuple[float, float, float]) -> str:
    """Return the palette name of one RGB colour (components 0-255)."""
    return str(_colour_names(np.asarray(rgb, dtype=np.float64))[()])


def _position(rows: npt.NDArray[Any], cols: npt.NDArray[Any], height: int, width: int) -> str:
    """Describe where a set of pixels lies: its centroid's third of the image, or 'all over'."""
    vertical = ("top", "middle", "bottom")[min(2, int(3 * rows.mean() / height))]
    horizontal = ("left", "center", "right")[min(2, int(3 * cols.mean() / width))]
    if (rows.max() - rows.min()) > 0.8 * height and (cols.max() - cols.min()) > 0.8 * width:
        spread = "spread across the image"
        if vertical == "middle" and horizontal == "center":
            return spread
        return f"{spread}, weighted to the {_place(vertical, horizontal)}"
    place = _place(vertical, horizontal)
    return "in the center" if place == "center" else f"in the {place} part"


def _place(vertical: str, horizontal: str) -> str:
    """Join a vertical and horizontal third into one phrase such as 'top-left' or 'center'."""
    if vertical == "middle" and horizontal == "center":
        return "center"
    if vertical == "middle":
        return horizontal
    if horizontal == "center":
        return vertical
    return f"{vertical}-{horizontal}"


def _colour_summary(pixels: npt.NDArray[Any]) -> str:
    """Describe the dominant named colours of an ``(h, w, 3)`` image and where each one lies."""
    names = _colour_names(pixels)
    height, width = names.shape
    labels, counts = np.unique(names, return_counts=True)
    order = sorted(zip(counts.tolist(), labels.tolist(), strict=True), key=lambda item: (-item[0], item[1]))
    parts = []
    for count, label in order[:_MAX_COLOURS]:
        share = count / names.size
        if share < _MIN_COLOUR_SHARE:
            break
        rows, cols = np.nonzero(names == label)
        parts.append(f"{label} ({share:.0%}, {_position(rows, cols, height, width)})")
    return "Dominant colours: " + "; ".join(parts)


# --------------------------------------------------------------------------------------------- OCR


@functools.lru_cache(maxsize=1)
def _ocr_engine() -> Any:
    """Return a shared RapidOCR engine, or None when rapidocr-onnxruntime is not installed."""
    try:
        from rapidocr_onnxruntime import RapidOCR  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        return None
    return RapidOCR()


def ocr_available() -> bool:
    """Return whether OCR (rapidocr-onnxruntime) can be used."""
    return _ocr_engine() is not None


def ocr_text(image: Any) -> str:
    """Return the text RapidOCR finds in ``image`` (an RGB array), lines in reading order.

    Raises:
        ValueError: rapidocr-onnxruntime is not installed.
    """
    engine = _ocr_engine()
    if engine is None:
        raise ValueError("OCR needs rapidocr-onnxruntime: pip install -e '.[embedded]'")
    result, _timings = engine(np.ascontiguousarray(np.asarray(image)[..., ::-1]))
    if not result:
        return ""
    boxes = sorted(result, key=lambda item: (round(min(p[1] for p in item[0]) / 20), min(p[0] for p in item[0])))
    return " ".join(str(item[1]).strip() for item in boxes if str(item[1]).strip())


def _open_rgb(path: Path) -> npt.NDArray[np.uint8]:
    """Read an image file as an ``(h, w, 3)`` uint8 RGB array.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: the file is not a readable image.
    """
    _require_file(path)
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"cannot read image {path}: {exc}") from exc


def _thumbnail(pixels: npt.NDArray[np.uint8], side: int = 512) -> npt.NDArray[np.uint8]:
    """Subsample an image so its longer side is at most ``side`` pixels (nearest neighbour)."""
    step = max(1, -(-max(pixels.shape[:2]) // side))
    return pixels[::step, ::step]


def describe_image(path: Path) -> str:
    """Describe an image: size, dominant colours with their position, and any OCR text.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: the file is not a readable image.
    """
    pixels = _open_rgb(path)
    height, width = pixels.shape[:2]
    sentences = [f"An image of {width}x{height} pixels", _colour_summary(_thumbnail(pixels))]
    if ocr_available():
        text = ocr_text(pixels)
        sentences.append(f'Text found: "{text}"' if text else "No text found")
    else:
        sentences.append("Text not checked (OCR is not installed)")
    return ". ".join(sentences) + "."


# --------------------------------------------------------------------------------------------- documents


def _truncate(text: str) -> str:
    """Keep the first MAX_DOCUMENT_CHARS characters of ``text``."""
    text = text.strip()
    if len(text) <= MAX_DOCUMENT_CHARS:
        return text
    return text[:MAX_DOCUMENT_CHARS] + " [truncated]"


def _read_pdf(path: Path) -> str:
    """Return the text layer of a PDF, or a sentence saying it has none.

    Raises:
        ValueError: pypdf is missing or the file is not a readable PDF.
    """
    try:
        from pypdf import PdfReader
        from pypdf.errors import PyPdfError
    except ImportError:
        raise ValueError("cannot read .pdf: install pypdf (pip install -e '.[embedded]')") from None
    try:
        reader = PdfReader(path)
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"cannot read PDF {path}: {exc}") from exc
    text = "\n".join(page.strip() for page in pages if page.strip())
    if not text:
        return f"PDF with {len(pages)} page(s) and no text layer (scanned or image-only)"
    return text


def _read_docx(path: Path) -> str:
    """Return the paragraphs of a .docx file, one per line.

    Raises:
        ValueError: python-docx is missing or the file is not a readable .docx.
    """
    try:
        import docx
        from docx.opc.exceptions import OpcError
    except ImportError:
        raise ValueError("cannot read .docx: install python-docx") from None
    try:
        document = docx.Document(str(path))
    except (OpcError, zipfile.BadZipFile, ValueError, KeyError, OSError) as exc:
        raise ValueError(f"cannot read .docx {path}: {exc}") from exc
    return "\n".join(p.text for p in document.paragraphs if p.text.strip())


def _read_text(path: Path) -> str:
    """Return a text file's content (UTF-8, undecodable bytes replaced)."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc


def describe_document(path: Path) -> str:
    """Return the readable text of a document (image via OCR, txt/md/csv, pdf, docx), at most 2,000 chars.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: unsupported type, unreadable file, or a needed reader is not installed.
    """
    _require_file(path)
    suffix = path.suffix.lower()
    if suffix in _IMAGE_SUFFIXES:
        text = ocr_text(_open_rgb(path)) or "no text found"
    elif suffix in _TEXT_SUFFIXES:
        text = _read_text(path) or "empty text file"
    elif suffix == ".pdf":
        text = _read_pdf(path)
    elif suffix == ".docx":
        text = _read_docx(path) or "empty .docx document"
    else:
        raise ValueError(f"unsupported document type '{suffix}' for {path}")
    return _truncate(text)


# --------------------------------------------------------------------------------------------- point clouds

_PLY_TYPES = {
    "char": "i1",
    "int8": "i1",
    "uchar": "u1",
    "uint8": "u1",
    "short": "i2",
    "int16": "i2",
    "ushort": "u2",
    "uint16": "u2",
    "int": "i4",
    "int32": "i4",
    "uint": "u4",
    "uint32": "u4",
    "float": "f4",
    "float32": "f4",
    "double": "f8",
    "float64": "f8",
}


class _PlyElement:
    """One ``element`` of a PLY header: its name, count and (type, name) properties."""

    def __init__(self, name: str, count: int) -> None:
        self.name = name
        self.count = count
        self.properties: list[tuple[str, str]] = []
        self.has_list = False


def _parse_ply_header(raw: bytes, path: Path) -> tuple[str, list[_PlyElement], int]:
    """Parse a PLY header; return the format, the elements and the byte offset of the body."""
    end = raw.find(b"end_header")
    if not raw.startswith(b"ply") or end < 0:
        raise ValueError(f"{path} is not a PLY file (no 'ply' magic or 'end_header')")
    body_start = raw.index(b"\n", end) + 1 if b"\n" in raw[end:] else len(raw)
    fmt = ""
    elements: list[_PlyElement] = []
    for line in raw[:end].decode("ascii", errors="replace").splitlines()[1:]:
        words = line.split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        if words[0] == "format" and len(words) >= 2:
            fmt = words[1]
        elif words[0] == "element" and len(words) == 3:
            elements.append(_PlyElement(words[1], int(words[2])))
        elif words[0] == "property" and elements:
            _add_ply_property(elements[-1], words, path)
    return fmt, elements, body_start


def _add_ply_property(element: _PlyElement, words: list[str], path: Path) -> None:
    """Record one ``property`` line on ``element``."""
    if words[1] == "list":
        element.has_list = True
        element.properties.append(("list", words[-1]))
        return
    if words[1] not in _PLY_TYPES or len(words) < 3:
        raise ValueError(f"{path}: unknown PLY property '{' '.join(words)}'")
    element.properties.append((_PLY_TYPES[words[1]], words[2]))


def _ply_xyz_columns(vertex: _PlyElement, path: Path) -> list[int]:
    """Return the indices of the x, y, z properties of the vertex element."""
    names = [name for _type, name in vertex.properties]
    missing = [axis for axis in ("x", "y", "z") if axis not in names]
    if missing:
        raise ValueError(f"{path}: PLY vertex element lacks {', '.join(missing)}")
    return [names.index(axis) for axis in ("x", "y", "z")]


def _ply_ascii_points(text: str, elements: list[_PlyElement], path: Path) -> FloatArray:
    """Read the vertex x, y, z of an ASCII PLY body (one line per element item)."""
    lines = [line for line in text.splitlines() if line.strip()]
    start = 0
    for element in elements:
        if element.name == "vertex":
            rows = lines[start : start + element.count]
            if len(rows) < element.count:
                raise ValueError(f"{path}: PLY declares {element.count} vertices but has {len(rows)}")
            columns = _ply_xyz_columns(element, path)
            try:
                table = [[float(row.split()[i]) for i in columns] for row in rows]
            except (ValueError, IndexError) as exc:
                raise ValueError(f"{path}: bad PLY vertex line: {exc}") from exc
            return np.asarray(table, dtype=np.float64).reshape(-1, 3)
        start += element.count
    raise ValueError(f"{path}: PLY file has no vertex element")


def _ply_binary_points(body: bytes, elements: list[_PlyElement], endian: str, path: Path) -> FloatArray:
    """Read the vertex x, y, z of a binary PLY body; elements before the vertices must be fixed-size."""
    offset = 0
    for element in elements:
        if element.has_list:
            raise ValueError(f"{path}: PLY element '{element.name}' with list properties precedes the vertices")
        dtype = np.dtype([(name, endian + kind) for kind, name in element.properties])
        if element.name == "vertex":
            _ply_xyz_columns(element, path)
            if len(body) < offset + dtype.itemsize * element.count:
                raise ValueError(f"{path}: PLY body is shorter than its {element.count} declared vertices")
            table = np.frombuffer(body, dtype=dtype, count=element.count, offset=offset)
            return np.stack([table[axis].astype(np.float64) for axis in ("x", "y", "z")], axis=1)
        offset += dtype.itemsize * element.count
    raise ValueError(f"{path}: PLY file has no vertex element")


def read_ply(path: Path) -> FloatArray:
    """Return the vertex coordinates of a PLY file (ascii, binary little- or big-endian) as ``(n, 3)``.

    Raises:
        ValueError: the file is not a PLY file this reader understands.
    """
    raw = path.read_bytes()
    fmt, elements, body_start = _parse_ply_header(raw, path)
    if fmt == "ascii":
        return _ply_ascii_points(raw[body_start:].decode("ascii", errors="replace"), elements, path)
    if fmt in ("binary_little_endian", "binary_big_endian"):
        endian = "<" if fmt == "binary_little_endian" else ">"
        return _ply_binary_points(raw[body_start:], elements, endian, path)
    raise ValueError(f"{path}: unsupported PLY format '{fmt}'")


def read_off(path: Path) -> FloatArray:
    """Return the vertex coordinates of an OFF file (also COFF/NOFF) as ``(n, 3)``.

    Raises:
        ValueError: the file is not a readable OFF file.
    """
    text = path.read_text(encoding="ascii", errors="replace")
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    header = lines[0].split() if lines else []
    if not header or header[0].upper() not in _OFF_MAGIC:
        raise ValueError(f"{path} is not an OFF file (no 'OFF' header)")
    if len(header) > 1:
        counts_line, first_vertex = header[1:], 1
    else:
        counts_line, first_vertex = (lines[1].split() if len(lines) > 1 else []), 2
    try:
        count = int(counts_line[0])
        rows = lines[first_vertex : first_vertex + count]
        table = [[float(value) for value in row.split()[:3]] for row in rows]
    except (ValueError, IndexError) as exc:
        raise ValueError(f"{path}: bad OFF header or vertex line: {exc}") from exc
    if len(table) < count or any(len(row) < 3 for row in table):
        raise ValueError(f"{path}: OFF declares {count} vertices but fewer complete ones follow")
    return np.asarray(table, dtype=np.float64).reshape(-1, 3)


def shape_hint(extents: FloatArray) -> str:
    """Classify bounding-box extents (x, y, z) as a point, elongated, flat or compact-roundish shape."""
    order = np.argsort(-extents, kind="stable")
    largest, middle, smallest = (float(extents[i]) for i in order)
    axis = "xyz"[int(order[0])]
    if largest <= 0:
        return "a single point (all points coincide)"
    if middle < 0.5 * largest:
        return f"elongated (longest along {axis})"
    if smallest < 0.25 * middle:
        return f"flat (thinnest along {'xyz'[int(order[2])]})"
    return "compact-roundish (extents of similar size)"


PLACEHOLDER_PREFIX = "placeholder:"


def placeholder_statement(text: str) -> str:
    """A file's own ``placeholder: ...`` statement as a caption's first sentence ("" when it makes none).

    evalkit's placeholder renderers (:mod:`evalkit.render`) write one into the media they make, so a caption
    says plainly that the medium is a stand-in and what it stands for.
    """
    text = " ".join(text.split())
    if not text.lower().startswith(PLACEHOLDER_PREFIX):
        return ""
    body = text[len(PLACEHOLDER_PREFIX) :].strip().rstrip(".")
    return f"{body[:1].upper()}{body[1:]}. " if body else ""


def _ply_placeholder(path: Path) -> str:
    with path.open("rb") as f:
        raw = f.read(1 << 16)  # the header: a placeholder's statement is cut at 2,000 characters
    end = raw.find(b"end_header")
    for line in raw[: max(end, 0)].decode("utf-8", errors="replace").splitlines():
        if line.startswith("comment ") and line[8:].lstrip().lower().startswith(PLACEHOLDER_PREFIX):
            return placeholder_statement(line[8:])
    return ""


def describe_point_cloud(path: Path) -> str:
    """Describe a point cloud (.ply or .off): number of points, bounding-box extents and a shape hint.

    A PLY whose header holds ``comment placeholder: ...`` (a placeholder evalkit rendered) is described with that
    statement first.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: unsupported type or unreadable file.
    """
    _require_file(path)
    suffix = path.suffix.lower()
    statement = ""
    if suffix == ".ply":
        points = read_ply(path)
        statement = _ply_placeholder(path)
    elif suffix == ".off":
        points = read_off(path)
    else:
        raise ValueError(f"unsupported point cloud type '{suffix}' for {path} (expected .ply or .off)")
    if len(points) == 0:
        return f"{statement}An empty point cloud (0 points)."
    if not np.isfinite(points).all():
        raise ValueError(f"{path}: point coordinates contain NaN or infinity")
    low, high = points.min(axis=0), points.max(axis=0)
    extents = high - low
    centre = (low + high) / 2
    return (
        f"{statement}A point cloud of {len(points)} points. Bounding box extents "
        f"x={extents[0]:.3g}, y={extents[1]:.3g}, z={extents[2]:.3g}, "
        f"centred at ({centre[0]:.3g}, {centre[1]:.3g}, {centre[2]:.3g}). Shape: {shape_hint(extents)}."
    )


# --------------------------------------------------------------------------------------------- video


def _video_header(container: Any, stream: Any) -> tuple[float, str]:
    """Return the duration in seconds and a 'WxH pixels, N fps' phrase for a video stream."""
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / 1_000_000
    else:
        duration = 0.0
    rate = stream.average_rate or stream.guessed_rate
    fps = f"{float(rate):.3g} fps" if rate else "unknown frame rate"
    return duration, f"{stream.codec_context.width}x{stream.codec_context.height} pixels, {fps}"


def _sample_frame_colours(container: Any, stream: Any, duration: float, count: int = 3) -> list[str]:
    """Return the named mean colour of ``count`` frames spread over the video (keyframe seeks)."""
    names = []
    for index in range(count):
        seconds = duration * (index + 0.5) / count
        if stream.time_base is not None and seconds > 0:
            container.seek(int(seconds / stream.time_base), stream=stream, backward=True)
        frame = next(container.decode(stream), None)
        if frame is None:
            continue
        mean = frame.to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0)
        names.append(f"{colour_name((float(mean[0]), float(mean[1]), float(mean[2])))} at {seconds:.1f}s")
    return names


def _video_facts(path: Path) -> tuple[str, int]:
    """Return the visual description of a video and its number of audio streams.

    A video whose ``comment`` tag is a ``placeholder: ...`` statement (a placeholder evalkit rendered) is
    described with that statement first.

    Raises:
        ValueError: the file is unreadable or has no video stream.
    """
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError(f"{path} has no video stream")
            stream = container.streams.video[0]
            duration, header = _video_header(container, stream)
            colours = _sample_frame_colours(container, stream, duration)
            audio_streams = len(container.streams.audio)
            statement = placeholder_statement(str(container.metadata.get("comment", "")))
    except av.error.FFmpegError as exc:
        raise ValueError(f"cannot read video {path}: {exc}") from exc
    colour_text = ", ".join(colours) if colours else "no decodable frames"
    return f"{statement}A video of {duration:.1f} seconds, {header}. Mean frame colour: {colour_text}.", audio_streams


def describe_video(path: Path, transcriber: WhisperTranscriber | None) -> str:
    """Describe a video: duration, resolution, fps, mean colour of a few frames, and its speech.

    Args:
        path: the video file.
        transcriber: transcribes the audio track when given; None skips speech.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: the file is unreadable or has no video stream.
    """
    _require_file(path)
    visual, audio_streams = _video_facts(path)
    if audio_streams == 0:
        return f"{visual} No audio track."
    if transcriber is None:
        return f"{visual} Has an audio track (not transcribed)."
    speech = transcriber.transcribe(path)
    return f'{visual} Speech: "{speech}".' if speech else f"{visual} No speech detected in the audio track."
