"""Tables and charts of recorded benchmark runs: samples/second per model and framework,
CPU and GPU side by side.

Reads the JSON files that ``bench_mlp.py``, ``bench_conv.py`` and ``bench_rnn.py`` write
with ``--out`` (both of their layouts) and writes a Markdown table and, where matplotlib
is installed (``pip install -e ".[bench]"``), a PNG bar chart. Only figures found in the
files appear; each column names the machine its file says it ran on.

Usage::

    python benchmarks/report.py                      # results/*_cpu.json + *_gpu.json
    python benchmarks/report.py a.json b.json --out-md t.md --out-png t.png

The benchmarks call :func:`write_beside` after writing their JSON, which puts
``<name>.md`` and ``<name>.png`` next to ``<name>.json``.
"""
import argparse
import glob
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
# The recorded runs the summary is made of: <family>_cpu.json and <family>_gpu.json
# (variants such as *_gpu_eager.json or *_cpu_loaded.json are left out).
SUMMARY_PATTERN = re.compile(r"^[a-z0-9]+_(cpu|gpu)\.json$")

MODEL_NAMES = {
    "mlp": "softmax MLP 20-64-64-10",
    "wide": "wide MLP 784-512-512-10",
    "vgg": "VGG-like 100x100x3",
    "conv1d": "Conv1D 64x100",
    "emb_lstm": "Embedding + LSTM(128)",
    "stacked_lstm": "stacked 3 x LSTM(32)",
}
FRAMEWORKS = ("gpuseq", "Keras 3 + JAX", "Keras 3 + torch", "PyTorch")
_FRAMEWORK_OF = {"keras-jax": "Keras 3 + JAX", "keras-torch": "Keras 3 + torch"}
MATPLOTLIB_MISSING = ("matplotlib is not installed, so no chart was drawn (the table was "
                      "written). Install it with: python -m pip install -e \".[bench]\"")


# ------------------------------------------------------------------------ reading
def framework_name(key):
    """The framework a result key names: 'gpuseq-cupy' -> 'gpuseq', 'keras-jax' ->
    'Keras 3 + JAX', 'pytorch-cuda' -> 'PyTorch'; None for other keys."""
    if key.startswith("gpuseq-"):
        return "gpuseq"
    if key.startswith("pytorch-"):
        return "PyTorch"
    return _FRAMEWORK_OF.get(key)


def _samples_per_s(value):
    if isinstance(value, dict):
        value = value.get("samples_per_s")
    return float(value) if isinstance(value, (int, float)) else None


def machine_description(env, gpu_env=None):
    """One line naming the machine a record ran on, from its environment entries."""
    if env.get("backend") in ("cupy",):
        device = (gpu_env or {}).get("device") or "a CUDA GPU (device not recorded)"
        return f"{device}; host {env.get('cpu_count', '?')} CPU cores, CuPy " \
               f"{env.get('cupy13') or env.get('cupy') or '?'}"
    cpu = env.get("cpu_model") or env.get("machine") or "CPU"
    return f"{cpu}, {env.get('cpu_count', '?')} cores, NumPy {env.get('numpy', '?')}"


def read_record(path, gpu_env=None):
    """The figures of one benchmark JSON file.

    Returns:
        ``(device, machine, {(model, framework): samples_per_s})`` where device is
        'GPU' for a run of the cupy backend and 'CPU' otherwise.
    """
    with open(path) as f:
        data = json.load(f)
    if "models" in data:                                    # bench_mlp.py's layout
        env = dict(data.get("environment", {}), backend=data.get("backend"))
        per_model = data["models"]
    else:                                                   # bench_conv.py / bench_rnn.py
        env = dict(data.get("meta", {}))
        per_model = data.get("results", {})
    figures = {}
    for model, row in per_model.items():
        for key, value in row.items():
            fw, sps = framework_name(key), _samples_per_s(value)
            if fw is not None and sps is not None:
                figures[(model, fw)] = sps
    device = "GPU" if env.get("backend") == "cupy" else "CPU"
    return device, machine_description(env, gpu_env), figures


def collect(paths, gpu_env=None):
    """Merge records: ``({(model, framework, device): samples_per_s}, {device: [machine
    lines]})``. A later file overrides an earlier one for the same cell."""
    cells, machines = {}, {}
    for path in paths:
        device, machine, figures = read_record(path, gpu_env)
        for (model, fw), sps in figures.items():
            cells[(model, fw, device)] = sps
        if figures and machine not in machines.setdefault(device, []):
            machines[device].append(machine)
    return cells, machines


def summary_paths(results_dir=RESULTS):
    """The recorded runs the summary is made of, in name order."""
    return [p for p in sorted(glob.glob(os.path.join(results_dir, "*.json")))
            if SUMMARY_PATTERN.match(os.path.basename(p))]


def _gpu_env(results_dir):
    path = os.path.join(results_dir, "gpu_env.json")
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return None


# ------------------------------------------------------------------------ writing
def _ordered_models(cells):
    seen = {m for m, _, _ in cells}
    return [m for m in MODEL_NAMES if m in seen] + sorted(seen - set(MODEL_NAMES))


def _fmt(value):
    if value is None:
        return ""
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def markdown_table(cells, machines):
    """A Markdown table: one row per model and framework, CPU and GPU columns."""
    lines = ["| model | framework | CPU samples/s | GPU samples/s |",
             "|---|---|---:|---:|"]
    for model in _ordered_models(cells):
        for fw in FRAMEWORKS:
            cpu, gpu = cells.get((model, fw, "CPU")), cells.get((model, fw, "GPU"))
            if cpu is None and gpu is None:
                continue
            lines.append(f"| {MODEL_NAMES.get(model, model)} | {fw} | {_fmt(cpu)} | "
                         f"{_fmt(gpu)} |")
    lines.append("")
    for device in ("CPU", "GPU"):
        for machine in machines.get(device, []):
            lines.append(f"- {device}: {machine}")
    return "\n".join(lines) + "\n"


def draw_chart(cells, machines, path):
    """Grouped horizontal bars (log scale), one panel per device. Returns False, with a
    note on stderr, when matplotlib is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(MATPLOTLIB_MISSING, file=sys.stderr)
        return False
    devices = [d for d in ("CPU", "GPU") if any(k[2] == d for k in cells)]
    models = _ordered_models(cells)
    fig, axes = plt.subplots(1, len(devices), figsize=(6.5 * len(devices), 0.9 * len(models) + 2),
                             squeeze=False, sharey=True)
    height = 0.8 / len(FRAMEWORKS)
    for ax, device in zip(axes[0], devices):
        for i, fw in enumerate(FRAMEWORKS):
            ys = [j + (i - (len(FRAMEWORKS) - 1) / 2) * height for j in range(len(models))]
            vals = [cells.get((m, fw, device)) or 0.0 for m in models]
            if any(vals):
                ax.barh(ys, vals, height=height, label=fw, color=f"C{i}")
        ax.set_xscale("log")
        ax.set_xlabel("samples / second (log scale)")
        ax.set_title(f"{device}: " + "; ".join(machines.get(device, [])), fontsize=8)
        ax.grid(axis="x", which="both", alpha=0.3)
    axes[0][0].set_yticks(range(len(models)))
    axes[0][0].set_yticklabels([MODEL_NAMES.get(m, m) for m in models])
    axes[0][0].invert_yaxis()
    axes[0][-1].legend(loc="lower right", fontsize=8)
    fig.suptitle("One training epoch, samples per second (higher is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_report(paths, out_md, out_png=None, gpu_env=None):
    """Write the table (and the chart, when ``out_png`` is given and matplotlib is
    installed) of the figures in ``paths``. Returns the table's text."""
    cells, machines = collect(paths, gpu_env)
    table = markdown_table(cells, machines)
    with open(out_md, "w") as f:
        f.write(table)
    if out_png and cells:
        draw_chart(cells, machines, out_png)
    return table


def write_beside(json_path):
    """Write ``<name>.md`` and ``<name>.png`` beside a benchmark's ``<name>.json``."""
    stem = os.path.splitext(json_path)[0]
    return write_report([json_path], stem + ".md", stem + ".png",
                        gpu_env=_gpu_env(os.path.dirname(os.path.abspath(json_path))))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", help="benchmark JSON files (default: the recorded "
                    "<family>_cpu.json and <family>_gpu.json in benchmarks/results)")
    ap.add_argument("--out-md", default=os.path.join(RESULTS, "summary.md"))
    ap.add_argument("--out-png", default=os.path.join(RESULTS, "summary.png"))
    args = ap.parse_args(argv)
    paths = args.paths or summary_paths()
    if not paths:
        ap.error("no benchmark JSON files given or found in benchmarks/results")
    print(write_report(paths, args.out_md, args.out_png, gpu_env=_gpu_env(RESULTS)))


if __name__ == "__main__":
    main()
