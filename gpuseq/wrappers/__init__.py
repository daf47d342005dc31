"""Wrappers that let gpuseq models take part in other libraries' tools:
``from gpuseq.wrappers.scikit_learn import KerasClassifier, KerasRegressor``."""
