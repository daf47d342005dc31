"""The README's two commands: CI runs exactly the second; the first runs the quickstart."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _readme_commands():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    return re.findall(r"```bash\n(.*?)\n```", text, flags=re.S)


def test_first_two_commands_install_and_run_quickstart_and_tests():
    cmds = _readme_commands()
    quick, tests = cmds[0].strip(), cmds[1].strip()
    assert quick.startswith("python -m pip install -e .") and quick.endswith(
        "python examples/quickstart.py")
    assert os.path.exists(os.path.join(ROOT, "examples", "quickstart.py"))
    assert "pytest" in tests and "[test]" in tests


def test_ci_runs_the_readme_test_command():
    tests = _readme_commands()[1].strip()
    ci = open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8").read()
    assert tests in ci.splitlines()


def test_every_package_ships_in_the_wheel():
    """pyproject lists packages explicitly (kernels/ is mapped to gpuseq.kernels)."""
    import tomllib
    cfg = tomllib.load(open(os.path.join(ROOT, "pyproject.toml"), "rb"))
    listed = set(cfg["tool"]["setuptools"]["packages"])
    found = set()
    for dirpath, _, files in os.walk(os.path.join(ROOT, "gpuseq")):
        if "__init__.py" in files and "__pycache__" not in dirpath:
            rel = os.path.relpath(dirpath, ROOT).replace(os.sep, ".")
            found.add(rel)
    assert found | {"gpuseq.kernels"} == listed
