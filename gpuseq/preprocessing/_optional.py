"""Optional dependencies of the image tools, loaded on first use with a clear error."""
import importlib

_INSTALL = {"PIL": "Pillow", "scipy": "SciPy", "pydot": "pydot"}


def require(module, feature):
    """Imports `module` or raises an ImportError naming the package to install.

    Args:
        module: module name, e.g. 'PIL.Image' or 'scipy.ndimage'.
        feature: what needs it, for the message (e.g. 'load_img').
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        package = _INSTALL.get(module.split(".")[0], module.split(".")[0])
        raise ImportError(
            "%s needs the %s package, which is not installed. Install it with "
            "`pip install %s` (or `pip install \"gpuseq[image]\"`)."
            % (feature, package, package)) from error
