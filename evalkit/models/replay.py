"""The replay model: answers each record with the record's own ``output``.

It turns evalkit into a judge of content that already exists, as the original interleaved tool does
(records with ``output`` fields in, the same records scored out).
"""

from __future__ import annotations

from evalkit.errors import ModelError
from evalkit.models.base import MODELS, Model
from evalkit.types import Generation, Msg, Sample


@MODELS.register("replay")
class ReplayModel(Model):
    """Replays the sample's reference: its text with tags, its media as parts."""

    concurrency = 64
    #: the job refuses datasets whose references are gold answers rather than outputs to judge
    replays_references = True

    async def generate_inner(self, msg: Msg) -> Generation:
        raise ModelError("the replay model answers from a sample's reference, not from a msg")

    async def respond(self, sample: Sample) -> Generation:
        if not sample.references:
            raise ModelError(f"sample {sample.id} has no reference output to replay")
        text = "".join(p.value for p in sample.references if p.type == "text")
        media = tuple(p for p in sample.references if p.type != "text")
        return Generation(text=text, parts=media, prompt={"replay": "reference output"})
