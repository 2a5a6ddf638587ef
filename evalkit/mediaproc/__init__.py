"""Media budgets: decode, sample, resize, resample and chunk media once, with a record of what was done.

One module per kind, each with a frozen settings dataclass (defined in ``settings``, which imports no numpy, and
re-exported) and a function that returns arrays plus a :class:`~evalkit.mediaproc.report.MediaReport`:

- ``video.sample_video``: frames by fps or by count, max-frames and max-pixels budgets (decord, PyAV, OpenCV).
- ``audio.load_audio``: mono, resampled to a target rate, long audio chunked into windows (soundfile, PyAV).
- ``image.load_image``: EXIF orientation, RGB, resized to a pixel budget in multiples of a patch size.
- ``document.load_document``: PDF page images (pypdfium2 or pdftoppm) and/or text, .docx and text files.
- ``pointcloud.project_point_cloud``: a front/side/top projection image of a .ply or .off point cloud.
- ``cache.MediaCache``: decoded results keyed by file content hash and settings, in memory and on disk.
- ``budget.MediaBudget`` / ``budget.process``: one model's settings for every kind, and the part-type dispatcher.

Heavy decoders are imported where used; a missing one raises the one-line ``missing_extra`` error. ``budget``
and ``cache`` import no numpy either: a model entry holding them (a text-only run) loads no media stack.
"""
