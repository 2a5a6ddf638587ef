"""Renderers that turn what a text model wrote into media files (speech, document pages, labelled cards).

A cascade model (``produce:`` in a model entry) asks its text model to mark each medium it wants to produce and
renders every mark with one of these; see :mod:`evalkit.render.produce`.
"""

from evalkit.render.base import RENDERERS, Rendered, Renderer, make_renderer

__all__ = ["RENDERERS", "Rendered", "Renderer", "make_renderer"]
