"""fateops_serving: FATE-Serving's HTTP inference API for FATE 2.x hetero LR and LinR models.

The modules imported here need only the standard library, so load_bind can write models, bindings and feature
stores with them without the service's HTTP stack (which only app.py imports).
"""

from .errors import RetCode, ServingError, UnsupportedModelError
from .fate_output import model_from_fate_output
from .features import FeatureStore, FeatureStoreSummary, build_feature_store
from .model import ServingModel, guest_output, linear_score, sigmoid
from .store import (
    Binding,
    bind_service,
    bindings_path,
    feature_store_path,
    model_dir,
    model_path,
    party_dir,
    read_bindings,
    read_model,
    unbind_service,
    write_model,
)

__version__ = "1.0.0"

__all__ = [
    "Binding",
    "FeatureStore",
    "FeatureStoreSummary",
    "RetCode",
    "ServingError",
    "ServingModel",
    "UnsupportedModelError",
    "__version__",
    "bind_service",
    "bindings_path",
    "build_feature_store",
    "feature_store_path",
    "guest_output",
    "linear_score",
    "model_dir",
    "model_from_fate_output",
    "model_path",
    "party_dir",
    "read_bindings",
    "read_model",
    "sigmoid",
    "unbind_service",
    "write_model",
]
