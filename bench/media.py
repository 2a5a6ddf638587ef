"""Video frame sampling time per clip: decord vs the fallback decoders (PyAV, OpenCV).

Makes a clip with ffmpeg (default 30 s, 640x360, 30 fps, H.264 testsrc2 with noise) in a temporary folder, then times
``evalkit.mediaproc.video.sample_video`` taking 16 frames spread uniformly, once per repeat and decoder, with
no cache (each call opens the file and decodes). Frames are kept at their size (``max_pixels`` = the clip's
area) so the figure is the decoder's; the resize to a budget is timed separately. Prints the median of
``--repeats`` runs (default 5), with every run, as a baseline PyAV decoding every frame in order, and a hit
of the in-memory cache (the file's sha256 is memoised by path, size and mtime, so a hit is a lookup).

Run from the repository root:  python bench/media.py [--gop 250 30] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing evalkit
    sys.path.insert(0, str(REPO))

from evalkit.mediaproc import video  # noqa: E402
from evalkit.mediaproc.cache import MediaCache  # noqa: E402
from evalkit.mediaproc.video import VideoSettings, sample_video  # noqa: E402


def make_clip(out: Path, seconds: int, width: int, height: int, fps: int, gop: int, noise: int) -> Path:
    """An H.264 testsrc2 clip; ``gop`` is the keyframe interval in frames (x264's default is 250).

    ``noise`` (ffmpeg's noise filter strength, changing every frame) brings the bitrate, and so the decoding
    cost, near that of camera footage; 0 gives a synthetic clip that compresses to almost nothing.
    """
    cmd = ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}"]
    cmd += ["-t", str(seconds), *(["-vf", f"noise=alls={noise}:allf=t"] if noise else [])]
    cmd += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", str(gop), str(out)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    return out


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    """Wall seconds of ``repeats`` calls of ``fn``."""
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def decode_all(path: Path) -> int:
    """PyAV decoding every frame to RGB in order: what sampling without seeking costs."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for frame in container.decode(stream) if frame.to_ndarray(format="rgb24") is not None)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}" if seconds >= 0.01 else f"{seconds * 1000:.3f}"


def row(name: str, runs: list[float]) -> str:
    listed = ", ".join(ms(r) for r in runs)
    return f"  {name:<34} median {ms(statistics.median(runs)):>8} ms   ({listed})"


def bench_clip(path: Path, area: int, frames: int, repeats: int) -> None:
    for decoder in video.DECODERS:
        if not video.installed(decoder):
            print(f"  {decoder:<34} not installed")
            continue
        settings = VideoSettings(num_frames=frames, max_frames=frames, max_pixels=area, decoder=decoder)
        sample_video(path, settings)  # warm the page cache and the library
        print(row(f"{decoder}, {frames} frames", timed(lambda s=settings: sample_video(path, s), repeats)))
    budget = VideoSettings(num_frames=frames, max_frames=frames, max_pixels=448 * 448, patch=28, decoder="pyav")
    print(row(f"pyav, {frames} frames + resize to 448^2", timed(lambda: sample_video(path, budget), repeats)))
    print(row("baseline: pyav decodes every frame", timed(lambda: decode_all(path), max(1, repeats // 2))))
    cache = MediaCache()
    sample_video(path, budget, cache)
    print(row("memory cache hit (hash + lookup)", timed(lambda: sample_video(path, budget, cache), repeats)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--gop", type=int, nargs="+", default=[250, 30], help="keyframe intervals to try")
    parser.add_argument("--noise", type=int, default=8, help="per-frame noise strength (0: none)")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="evalkit-bench-media-") as tmp:
        for gop in args.gop:
            path = make_clip(Path(tmp) / f"clip_g{gop}.mp4", args.seconds, width, height, args.fps, gop, args.noise)
            clip = f"{args.seconds} s {args.size} {args.fps} fps H.264 (noise {args.noise}), keyframe every {gop}"
            size = f"{path.stat().st_size / 1e6:.1f} MB"
            print(f"\n{clip} frames, {size}; {args.frames} frames uniformly, median of {args.repeats}")
            bench_clip(path, width * height, args.frames, args.repeats)


if __name__ == "__main__":
    main()
