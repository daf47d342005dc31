"""The version of gpuseq (also ``gpuseq.__version__``), in a module of its own so that
the saving code can write it into files without importing the whole package."""
__version__ = "0.1.0"
