"""Model backends. Importing this package registers the built-in backends."""

from evalkit.models import embedding, minilm_embed, openai_compat, replay
from evalkit.models.base import MODELS, Model

__all__ = ["MODELS", "Model", "embedding", "minilm_embed", "openai_compat", "replay"]
