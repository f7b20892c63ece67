"""Architectures (one per file) and the registry that names their configurations."""

from glsgn_core.models._registry import create_model, list_models, model_description, register_model
from glsgn_core.models import glsgn  # noqa: F401  (registers the GLSGN configurations)
from glsgn_core.models import glanet  # noqa: F401
from glsgn_core.models.glsgn import GLSGN, GLSGNConfig, GLSGNOutput

__all__ = ["GLSGN", "GLSGNConfig", "GLSGNOutput", "create_model", "list_models", "model_description", "register_model"]
