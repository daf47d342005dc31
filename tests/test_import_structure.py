"""gpuseq's modules import each other in floors, without circles.

The floors, each importing only from those below it::

    backend  <-  layers  <-  engine  <-  models  (saving, callbacks, utils, ... where
                                                   their imports put them)

The check reads the source (nothing is imported): every ``import`` / ``from ...
import`` of a gpuseq module is an edge, including those inside functions. Importing
``gpuseq.a.b`` from outside ``gpuseq.a`` also runs ``gpuseq/a/__init__.py``, so that is
an edge to the package too (the root package ``gpuseq``, which imports everything,
is left out). A circle is a strongly connected group of two or more modules.

An import inside a function usually exists to dodge a circle; the only ones allowed
load an optional heavy part lazily, and each is listed in :data:`LAZY_IMPORTS` with
its reason.
"""
import ast
import functools
import pathlib
import textwrap

import pytest

PACKAGE_DIR = pathlib.Path(__file__).resolve().parents[1] / "gpuseq"

_CUPY_ONLY = ("runs on CuPy arrays only, so the CUDA ops load on first use instead of "
              "with every import of gpuseq")
# (importing module, imported module) -> why the import sits inside a function
LAZY_IMPORTS = {
    ("gpuseq.backend.autodiff", "gpuseq.backend.cupy_ops._gemm"):
        "the cuBLAS matrix product of CuPy arrays: " + _CUPY_ONLY,
}

# floor -> the parts of gpuseq its modules must not import (None: anything outside it)
FORBIDDEN = {
    "backend": None,
    "layers": {"engine", "models", "saving", "callbacks"},
    "engine": {"models", "saving"},
    "saving": {"models"},
}


# ------------------------------------------------------------------ reading imports
def module_files(package_dir):
    """{dotted module name: path} of every ``.py`` file of the package."""
    package_dir = pathlib.Path(package_dir)
    out = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = (package_dir.name,) + path.relative_to(package_dir).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _targets(node, module, is_package, known):
    """The package's modules an import node names."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in known]
    base = module if is_package else module.rpartition(".")[0]
    for _ in range(max(node.level - 1, 0)):
        base = base.rpartition(".")[0]
    if node.level:
        target = base + "." + node.module if node.module else base
    else:
        target = node.module or ""
    out = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known]
    if target in known and len(out) < len(node.names):
        out.append(target)                    # names defined in the module itself
    return out


def internal_imports(module, path, known):
    """``[(imported module, line, deferred)]`` for each import of a package module;
    deferred means inside a function (or lambda)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_package = path.name == "__init__.py"
    found, stack = [], [(node, False) for node in tree.body]
    while stack:
        node, deferred = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found += [(t, node.lineno, deferred)
                      for t in _targets(node, module, is_package, known) if t != module]
            continue
        inside = deferred or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                               ast.Lambda))
        stack += [(child, inside) for child in ast.iter_child_nodes(node)]
    return sorted(found)


def _packages_run(importer, target, root):
    """The packages whose ``__init__`` importing ``target`` runs, seen from ``importer``
    (those it is not inside itself), the root package excepted."""
    parts = target.split(".")
    out = []
    for i in range(2, len(parts)):
        pkg = ".".join(parts[:i])
        if pkg != root and not (importer == pkg or importer.startswith(pkg + ".")):
            out.append(pkg)
    return out


def import_graph(package_dir):
    """``{module: {imported module: (line, deferred)}}``, package ``__init__`` runs
    included (see the module docstring)."""
    files = module_files(package_dir)
    root = pathlib.Path(package_dir).name
    graph = {m: {} for m in files}
    for module, path in files.items():
        for target, line, deferred in internal_imports(module, path, files):
            for t in [target] + _packages_run(module, target, root):
                if t in files and t != module:
                    graph[module].setdefault(t, (line, deferred))
    return graph


def strongly_connected_components(graph):
    """Tarjan's algorithm, iterative: the groups of nodes that all reach each other."""
    index, low, on_stack, stack, comps = {}, {}, set(), [], []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    comp.append(member)
                    if member == node:
                        break
                comps.append(sorted(comp))
    return comps


def circles(graph):
    """The strongly connected groups of two or more modules, each as the list of the
    imports that tie it (``'a:12 -> b'``)."""
    out = []
    for comp in strongly_connected_components(graph):
        if len(comp) > 1:
            members = set(comp)
            out.append([f"{m}:{line} -> {t}" for m in comp
                        for t, (line, _) in sorted(graph[m].items()) if t in members])
    return out


def deferred_imports(package_dir):
    """``{(importer, imported): first line}`` of the imports inside functions."""
    files = module_files(package_dir)
    out = {}
    for module, path in files.items():
        for target, line, deferred in internal_imports(module, path, files):
            if deferred:
                out.setdefault((module, target), line)
    return out


def _floor(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


# ------------------------------------------------------------------------ gpuseq
@functools.lru_cache(maxsize=None)
def _gpuseq_graph():
    return import_graph(PACKAGE_DIR)


def test_gpuseq_has_no_import_circle():
    found = circles(_gpuseq_graph())
    assert not found, (
        "gpuseq has import circles (imports inside functions count):\n" +
        "\n\n".join("\n".join(c) for c in found) +
        "\nMove the shared piece down a floor (backend <- layers <- engine <- models), "
        "or let the lower module be told what it needs through a registration.")


def test_deferred_imports_only_load_heavy_parts_lazily():
    deferred = deferred_imports(PACKAGE_DIR)
    unlisted = sorted(f"{a} -> {b} (line {line})" for (a, b), line in deferred.items()
                      if (a, b) not in LAZY_IMPORTS)
    assert not unlisted, (
        "Imports inside functions that are not lazy loads of an optional heavy part: "
        f"{unlisted}. Import at the top of the module; if that makes a circle, move the "
        "shared piece down a floor. A genuinely lazy load goes into LAZY_IMPORTS with "
        "its reason.")
    stale = sorted(f"{a} -> {b}" for a, b in LAZY_IMPORTS if (a, b) not in deferred)
    assert not stale, f"LAZY_IMPORTS lists imports that no longer exist: {stale}"


@pytest.mark.parametrize("floor", sorted(FORBIDDEN))
def test_each_floor_imports_only_from_below(floor):
    graph = _gpuseq_graph()
    banned = FORBIDDEN[floor]
    bad = sorted(f"{m}:{line} -> {t}" for m, targets in graph.items() if _floor(m) == floor
                 for t, (line, _) in targets.items()
                 if (_floor(t) != floor if banned is None else _floor(t) in banned))
    where = "anything outside it" if banned is None else sorted(banned)
    assert not bad, f"gpuseq.{floor} must not import {where}. Received: {bad}"


def test_every_module_is_seen():
    files = module_files(PACKAGE_DIR)
    assert {"gpuseq", "gpuseq.backend.functions", "gpuseq.layers.base",
            "gpuseq.engine.training", "gpuseq.models"} <= set(files)
    graph = _gpuseq_graph()
    assert "gpuseq.backend.symbolic" in graph["gpuseq.layers.base"]
    assert "gpuseq.engine.training" in graph["gpuseq.models"]


# ------------------------------------- registrations that replace imports up a floor
def test_k_function_without_a_registered_evaluator_says_what_to_import(monkeypatch):
    import numpy
    from gpuseq import backend as K
    from gpuseq.backend import symbolic
    from gpuseq.layers import Dense
    from gpuseq.models import Sequential
    model = Sequential([Dense(2, input_dim=3)])
    f = K.function([model.input], [model.layers[0].output])
    x = numpy.ones((1, 3), "float32")
    expected = model.predict(x)
    monkeypatch.setitem(symbolic._evaluator, "run", None)
    with pytest.raises(RuntimeError, match="import gpuseq.engine"):
        f([x])
    monkeypatch.undo()
    numpy.testing.assert_allclose(f([x])[0], expected, rtol=1e-6)


def test_model_config_without_a_registered_model_class_says_what_to_import(monkeypatch):
    from gpuseq.layers import Dense, serialization
    from gpuseq.models import Sequential, model_from_config
    config = {"class_name": "Sequential", "config": Sequential([Dense(2, input_dim=3)])
              .get_config()}
    monkeypatch.setattr(serialization, "_MODEL_CLASSES", {})
    with pytest.raises(RuntimeError, match="import gpuseq.models"):
        model_from_config(config)
    monkeypatch.undo()
    model = model_from_config(config)
    assert type(model) is Sequential and model.layers[0].units == 2


# --------------------------------------------------------- the check on small packages
def _package(tmp_path, files):
    root = tmp_path / "pkg"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def test_a_circle_through_an_import_inside_a_function_is_found(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "",
        "low.py": "def f():\n    from .high import g\n    return g()\n",
        "high.py": "from . import low\n\ndef g():\n    return 1\n",
        "other.py": "from .low import f\n",
    })
    found = circles(import_graph(root))
    assert found == [["pkg.high:1 -> pkg.low", "pkg.low:2 -> pkg.high"]]
    assert deferred_imports(root) == {("pkg.low", "pkg.high"): 2}


def test_a_circle_through_a_package_init_is_found(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "",
        "a/__init__.py": "from .helpers import x\n",
        "a/helpers.py": "x = 1\n",
        "a/uses_b.py": "from ..b.names import NAMES\n",
        "b/__init__.py": "from .reader import read\n",
        "b/names.py": "NAMES = {}\n",
        "b/reader.py": "from ..a import uses_b\n\ndef read():\n    return uses_b\n",
    })
    found = circles(import_graph(root))
    assert len(found) == 1 and set(m.split(":")[0] for m in found[0]) == \
        {"pkg.a.uses_b", "pkg.b", "pkg.b.reader"}


def test_a_clean_package_has_no_circle(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "from . import high\n",
        "low.py": "import os\n",
        "high.py": "from .low import os\nfrom pkg import low\n",
    })
    assert circles(import_graph(root)) == []
    assert import_graph(root)["pkg.high"] == {"pkg.low": (1, False)}
