"""`benchmarks/gpu.py` runs end to end: on the CPU with tiny sizes in every run of the suite, on
CUDA (bf16 autocast) under the `gpu` marker."""

from __future__ import annotations

import pytest

from benchmarks import gpu


def table_rows(output: str) -> dict[str, list[str]]:
    """The printed Markdown table's rows by generator name."""
    rows = [line.strip("|").split(" | ") for line in output.splitlines() if line.startswith("| ")]
    return {cells[0].strip(): [c.strip() for c in cells] for cells in rows[1:]}


def test_runs_every_neural_generator_on_cpu_with_tiny_sizes(capsys):
    # Run: a given peak makes it count the DDPM's FLOPs on the CPU too
    gpu.main(["--device", "cpu", "--size", "tiny", "--peak-tflops", "1"])

    # Assert
    rows = table_rows(capsys.readouterr().out)
    assert sorted(rows) == sorted([*gpu.TABULAR, *gpu.IMAGES])
    for name, cells in rows.items():
        assert cells[1] == "fp32" and int(cells[3]) > 0 and float(cells[4]) > 0
        assert cells[7] == "—"  # no GPU memory on the CPU
        assert cells[8].endswith("%") if name == "ddpm" else cells[8] == "—"
    tiny = gpu.SIZES["tiny"]
    assert rows["tabddpm"][6].endswith(" rows") and rows["ddpm"][6].endswith(" images")
    assert int(rows["dcgan"][3]) == tiny.image_steps


def test_ddpm_step_flops_grow_with_the_batch():
    # Setup
    from generators import create_generator
    from sources.images import load_digits_images

    params = {**gpu.SIZES["tiny"].image_params["ddpm"], "steps": 1, "verbose": False}
    ddpm = create_generator("ddpm", params).fit(load_digits_images(), seed=0)

    # Run
    one, four = (gpu.ddpm_step_flops(ddpm, batch, "cpu") for batch in (1, 4))

    # Assert: forward + backward of convolutions and matmuls scale with the batch
    assert one > 0 and four == pytest.approx(4 * one, rel=0.01)


@pytest.mark.gpu
def test_runs_every_neural_generator_on_cuda_with_bf16(capsys):
    # Run
    gpu.main(["--device", "cuda", "--size", "tiny"])

    # Assert
    rows = table_rows(capsys.readouterr().out)
    assert sorted(rows) == sorted([*gpu.TABULAR, *gpu.IMAGES])
    for cells in rows.values():
        assert cells[1] == "bf16 autocast" and float(cells[7].replace(",", "")) > 0
