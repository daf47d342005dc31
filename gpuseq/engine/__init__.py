"""Training machinery behind the models: data checks, compile resolution, loops."""
from . import symbolic  # noqa: F401  (registers the evaluator behind K.function)
