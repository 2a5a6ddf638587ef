"""The settings of every media kind: what config.yaml's ``media:`` blocks are validated into.

Plain frozen dataclasses that import no decoder and no numpy, so that a model entry's options (and with them a
text-only run) load without the media stack; each kind's module (``audio``, ``document``, ``image``,
``pointcloud``, ``video``) re-exports its own and does the work.
"""

from __future__ import annotations

from dataclasses import dataclass

from evalkit.errors import ConfigError

AUDIO_DECODERS: tuple[str, ...] = ("soundfile", "pyav")
RESAMPLERS: tuple[str, ...] = ("soxr", "scipy")
MODES = ("text", "images", "both")
RENDERERS = ("pypdfium2", "pdftoppm")
DECODERS: tuple[str, ...] = ("decord", "pyav", "opencv")
RESAMPLE_FILTERS = ("bicubic", "bilinear", "lanczos", "nearest")


def check_budget(min_pixels: int, max_pixels: int, patch: int, where: str) -> None:
    """Raise ConfigError unless ``0 <= min_pixels <= max_pixels`` and ``patch >= 1`` fit together."""
    if patch < 1:
        raise ConfigError(f"{where}: patch must be >= 1, got {patch}")
    if min_pixels < 0 or max_pixels < patch * patch:
        raise ConfigError(f"{where}: need min_pixels >= 0 and max_pixels >= patch^2 ({patch * patch})")
    if min_pixels > max_pixels:
        raise ConfigError(f"{where}: min_pixels {min_pixels} exceeds max_pixels {max_pixels}")


@dataclass(frozen=True)
class ImageSettings:
    """How images are brought to a model's budget.

    Attributes:
        min_pixels: smaller images are enlarged to at least this many pixels (0: never enlarge).
        max_pixels: larger images are shrunk to at most this many pixels.
        patch: both sides become multiples of this (28 for Qwen2-VL/Qwen2.5-VL, 1 for no constraint).
        resample: Pillow filter: bicubic, bilinear, lanczos or nearest.
        background: RGB colour that transparent pixels are composited on.
    """

    min_pixels: int = 0
    max_pixels: int = 1024 * 1024
    patch: int = 1
    resample: str = "bicubic"
    background: tuple[int, ...] = (255, 255, 255)

    def __post_init__(self) -> None:
        check_budget(self.min_pixels, self.max_pixels, self.patch, "image settings")
        if self.resample not in RESAMPLE_FILTERS:
            filters = ", ".join(RESAMPLE_FILTERS)
            raise ConfigError(f"image settings: resample must be one of {filters}, got {self.resample!r}")
        if len(self.background) != 3 or not all(0 <= c <= 255 for c in self.background):
            raise ConfigError(f"image settings: background must be three values 0-255, got {self.background!r}")


@dataclass(frozen=True)
class AudioSettings:
    """How audio is brought to a model's input.

    Attributes:
        sample_rate: target rate in Hz (16000 for Whisper-style encoders); 0 keeps the file's rate.
        mono: mix all channels to one (their mean).
        max_chunk_s: longest window in seconds; longer audio is cut into consecutive windows. None: one window.
        decoder: auto (soundfile, then pyav), soundfile or pyav.
        resampler: auto (soxr, then scipy), soxr or scipy.
    """

    sample_rate: int = 16000
    mono: bool = True
    max_chunk_s: float | None = 30.0
    decoder: str = "auto"
    resampler: str = "auto"

    def __post_init__(self) -> None:
        if self.sample_rate < 0:
            raise ConfigError(f"audio settings: sample_rate must be >= 0, got {self.sample_rate}")
        if self.max_chunk_s is not None and self.max_chunk_s <= 0:
            raise ConfigError(f"audio settings: max_chunk_s must be > 0 or null, got {self.max_chunk_s}")
        if self.decoder not in ("auto", *AUDIO_DECODERS):
            raise ConfigError(f"audio settings: decoder must be auto, soundfile or pyav; got {self.decoder!r}")
        if self.resampler not in ("auto", *RESAMPLERS):
            raise ConfigError(f"audio settings: resampler must be auto, soxr or scipy; got {self.resampler!r}")


@dataclass(frozen=True)
class DocumentSettings:
    """How a document reaches a model.

    Attributes:
        mode: text (extracted text), images (page images) or both.
        max_pages: pages kept from the start of a PDF; the rest are counted on the report, not read.
        dpi: rendering resolution of PDF pages.
        max_pixels: pixel budget of each page image.
        min_pixels: page images smaller than this are enlarged (0: never).
        patch: page image sides become multiples of this.
        max_chars: extracted text is cut at this many characters.
        renderer: auto (pypdfium2, then pdftoppm), pypdfium2 or pdftoppm.
    """

    mode: str = "both"
    max_pages: int = 8
    dpi: int = 100
    max_pixels: int = 1024 * 1024
    min_pixels: int = 0
    patch: int = 1
    max_chars: int = 20_000
    renderer: str = "auto"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"document settings: mode must be text, images or both; got {self.mode!r}")
        if self.max_pages < 1 or self.dpi < 1 or self.max_chars < 1:
            raise ConfigError("document settings: max_pages, dpi and max_chars must be >= 1")
        if self.renderer not in ("auto", *RENDERERS):
            raise ConfigError(f"document settings: renderer must be auto, pypdfium2 or pdftoppm; got {self.renderer!r}")
        check_budget(self.min_pixels, self.max_pixels, self.patch, "document settings")


@dataclass(frozen=True)
class ProjectionSettings:
    """How a point cloud is drawn.

    Attributes:
        panel_size: side of each square panel in pixels (the image is 3 panels wide).
        margin: empty border inside each panel, in pixels.
        max_points: larger clouds are thinned to this many points by a fixed stride (deterministic).
        point_size: side of the square drawn per point, in pixels.
        labels: write each view's name in its panel.
    """

    panel_size: int = 256
    margin: int = 12
    max_points: int = 200_000
    point_size: int = 2
    labels: bool = True

    def __post_init__(self) -> None:
        if self.panel_size < 16 or not 0 <= self.margin < self.panel_size // 2:
            raise ConfigError("projection settings: need panel_size >= 16 and 0 <= margin < panel_size / 2")
        if self.max_points < 1 or self.point_size < 1:
            raise ConfigError("projection settings: max_points and point_size must be >= 1")


@dataclass(frozen=True)
class VideoSettings:
    """How frames are taken from a video.

    Attributes:
        fps: frames per second of video time to take (ignored when ``num_frames`` is set).
        num_frames: take this many frames spread uniformly over the clip instead.
        min_frames: take at least this many (a very short clip at a low fps still gives this many).
        max_frames: never more than this many; more are replaced by this many spread uniformly.
        max_pixels: pixel budget of each frame (frames are shrunk keeping their aspect).
        min_pixels: frames smaller than this are enlarged (0: never).
        patch: frame sides become multiples of this (28 for Qwen2.5-VL).
        decoder: auto (decord, then pyav, then opencv), decord, pyav or opencv.
        resample: Pillow filter used to resize frames.
    """

    fps: float = 1.0
    num_frames: int | None = None
    min_frames: int = 1
    max_frames: int = 32
    max_pixels: int = 448 * 448
    min_pixels: int = 0
    patch: int = 1
    decoder: str = "auto"
    resample: str = "bicubic"

    def __post_init__(self) -> None:
        if self.fps <= 0:
            raise ConfigError(f"video settings: fps must be > 0, got {self.fps}")
        if self.num_frames is not None and self.num_frames < 1:
            raise ConfigError(f"video settings: num_frames must be >= 1, got {self.num_frames}")
        if not 1 <= self.min_frames <= self.max_frames:
            raise ConfigError(
                f"video settings: need 1 <= min_frames ({self.min_frames}) <= max_frames ({self.max_frames})"
            )
        if self.decoder not in ("auto", *DECODERS):
            raise ConfigError(f"video settings: decoder must be auto, {', '.join(DECODERS)}; got {self.decoder!r}")
        check_budget(self.min_pixels, self.max_pixels, self.patch, "video settings")
