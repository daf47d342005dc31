"""The NumPy reference implementation of every op (the twin of ``cupy_ops``).

Convention: ``<op>_forward(*inputs, **attrs) -> (output, saved)`` and
``<op>_backward(grad_output, saved, **attrs) -> tuple`` of one gradient per
input (None where an input is not differentiable). Optimizer updates
(``<name>_update``) work in place and read their step scalars as laid out by
``<name>_scalars`` (``load_step_scalars`` puts them where the updates read them). ``cupy_ops`` exports the same names with
the same signatures.

Every module of this package is imported here and its public op functions
(``*_forward``, ``*_backward``, ``*_update``, ``*_scalars``, ``*_check``) are exported at package level,
so adding an op family means adding one module.
"""
import importlib
import pkgutil

NAME = "numpy"
OP_SUFFIXES = ("_forward", "_backward", "_update", "_scalars", "_check")


def _export_ops(package_name, package_path, namespace):
    names = []
    for info in sorted(pkgutil.iter_modules(package_path), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{package_name}.{info.name}")
        for attr in dir(mod):
            if attr.endswith(OP_SUFFIXES) and not attr.startswith("_"):
                if attr in namespace and namespace[attr] is not getattr(mod, attr):
                    raise ImportError(f"op {attr} is defined twice ({mod.__name__})")
                namespace[attr] = getattr(mod, attr)
                if attr not in names:
                    names.append(attr)
    return names


OPS = _export_ops(__name__, __path__, globals())
