"""3D on CPU: a plainly labelled placeholder point cloud (an ascii PLY sphere) that carries what was asked for.

No CPU renderer here can model a shape from words, so a 3D mark (``<threeD2: what the model shows>``) becomes a
512-point unit sphere whose PLY header states what it is: ``comment placeholder: placeholder point cloud, not a
generated 3D model; it stands for: <the mark's text>``. The CPU point-cloud captioner reports that statement
before the geometry, and the prediction records ``placeholder-cloud (placeholder)`` as its renderer. Readers
that ignore PLY comments (``evalkit.mediaproc``, any PLY tool) see a plain sphere.
"""

from __future__ import annotations

import asyncio
import math
import tempfile
from pathlib import Path

from evalkit.render.base import Rendered, Renderer

#: what the file's own header says, before the requested content
CLOUD_STATEMENT = "placeholder point cloud, not a generated 3D model; it stands for"
POINTS = 512
MAX_STATEMENT_CHARS = 2000


def sphere_points(n: int = POINTS) -> list[tuple[float, float, float]]:
    """``n`` points spread evenly over the unit sphere (a Fibonacci lattice), deterministic."""
    golden = math.pi * (3.0 - math.sqrt(5.0))
    out = []
    for i in range(n):
        z = 1.0 - 2.0 * (i + 0.5) / n
        r = math.sqrt(1.0 - z * z)
        out.append((r * math.cos(golden * i), r * math.sin(golden * i), z))
    return out


def placeholder_ply(text: str) -> str:
    """The ascii PLY of the placeholder sphere, its header stating what it stands for.

    Raises:
        ValueError: the text is empty.
    """
    what = " ".join(text.split())
    if not what:
        raise ValueError("nothing to stand for: the mark holds no description of the 3D model")
    statement = f"{CLOUD_STATEMENT}: {what}"[:MAX_STATEMENT_CHARS]
    points = sphere_points()
    header = [
        "ply",
        "format ascii 1.0",
        f"comment placeholder: {statement}",
        f"element vertex {len(points)}",
        "property float x",
        "property float y",
        "property float z",
        "end_header",
    ]
    body = [f"{x:.5f} {y:.5f} {z:.5f}" for x, y, z in points]
    return "\n".join([*header, *body]) + "\n"


class PlaceholderCloudRenderer(Renderer):
    """A labelled placeholder sphere (.ply) standing for the 3D model the mark describes."""

    kind = "threeD"
    name = "placeholder-cloud"
    placeholder = True

    def _render(self, text: str, out_dir: Path) -> Path:
        ply = placeholder_ply(text)
        out = Path(tempfile.mkstemp(suffix=".ply", dir=out_dir)[1])
        out.write_text(ply, encoding="utf-8")  # a PLY header is ASCII but for comments; keep their words
        return out

    async def render(self, text: str, out_dir: Path) -> Rendered:
        return Rendered(await asyncio.to_thread(self._render, text, out_dir), "placeholder-cloud (placeholder)")
