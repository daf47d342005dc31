"""benchmarks/report.py: the Markdown table and PNG chart of recorded benchmark runs,
from small JSON files in both layouts the benchmarks write."""
import importlib.util
import json
import pathlib

import pytest

REPORT_PATH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "report.py"


def _report_module():
    spec = importlib.util.spec_from_file_location("bench_report", REPORT_PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _write(path, data):
    path.write_text(json.dumps(data))
    return str(path)


@pytest.fixture
def records(tmp_path):
    cpu = _write(tmp_path / "mlp_cpu.json", {
        "environment": {"machine": "x86_64", "cpu_count": 2, "numpy": "2.0"},
        "backend": "numpy",
        "models": {"mlp": {"samples": 100, "batch_size": 10, "gpuseq-numpy": 1234.5,
                           "keras-jax": 600.0, "keras-torch": "skipped: not installed",
                           "pytorch-cpu": 99.0}}})
    gpu = _write(tmp_path / "rnn_gpu.json", {
        "meta": {"backend": "cupy", "cpu_count": 16, "cupy13": "14.0"},
        "results": {"stacked_lstm": {"gpuseq-cupy": {"samples_per_s": 50000.0},
                                     "keras-torch": {"samples_per_s": 7000.0}}}})
    _write(tmp_path / "gpu_env.json", {"device": "Test GPU 1"})
    return tmp_path, [cpu, gpu]


def test_table_rows_and_values(records):
    report = _report_module()
    folder, paths = records
    table = report.write_report(paths, str(folder / "t.md"),
                                gpu_env={"device": "Test GPU 1"})
    assert (folder / "t.md").read_text() == table
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows == [
        "| model | framework | CPU samples/s | GPU samples/s |",
        "| softmax MLP 20-64-64-10 | gpuseq | 1,234 |  |",
        "| softmax MLP 20-64-64-10 | Keras 3 + JAX | 600 |  |",
        "| softmax MLP 20-64-64-10 | PyTorch | 99.0 |  |",
        "| stacked 3 x LSTM(32) | gpuseq |  | 50,000 |",
        "| stacked 3 x LSTM(32) | Keras 3 + torch |  | 7,000 |",
    ]
    assert "- CPU: x86_64, 2 cores, NumPy 2.0" in table
    assert "- GPU: Test GPU 1; host 16 CPU cores, CuPy 14.0" in table


def test_summary_paths_take_only_cpu_and_gpu_records(records):
    report = _report_module()
    folder, _ = records
    _write(folder / "rnn_gpu_eager.json", {"meta": {}, "results": {}})
    names = [pathlib.Path(p).name for p in report.summary_paths(str(folder))]
    assert names == ["mlp_cpu.json", "rnn_gpu.json"]


def test_png_written_beside_the_json(records):
    pytest.importorskip("matplotlib")
    report = _report_module()
    folder, paths = records
    report.write_beside(paths[1])
    png = (folder / "rnn_gpu.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 1000
    assert "| stacked 3 x LSTM(32) | gpuseq |  | 50,000 |" in (folder / "rnn_gpu.md").read_text()
    assert "Test GPU 1" in (folder / "rnn_gpu.md").read_text()
