from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from validators.html_report import write_report
from validators.table_plots import association_matrix, table_figures


def test_association_matrix_known_answers():
    # Setup
    rng = np.random.default_rng(0)
    x = rng.normal(size=2000)
    frame = pd.DataFrame(
        {
            "x": x,
            "rises": x**3,  # monotone in x: Spearman 1
            "noise": rng.normal(size=2000),
            "sign": np.where(x > 0, "pos", "neg"),  # a function of x: strong Cramér's V
        }
    )

    # Run
    matrix = association_matrix(frame, frame)

    # Assert
    assert matrix.shape == (4, 4) and np.allclose(matrix, matrix.T)
    assert matrix[0, 1] == pytest.approx(1.0)
    assert abs(matrix[0, 2]) < 0.1
    assert matrix[0, 3] > 0.9 and matrix[2, 3] < 0.15


def test_table_figures_written_and_referenced(copy_report, wine_real, tmp_path):
    # Run
    figures = table_figures(copy_report, wine_real, wine_real.copy(), max_columns=5)
    html = write_report(tmp_path, copy_report, figures, "wine copy").read_text()

    # Assert
    assert [f.name for f in figures] == ["columns", "associations"]  # no holdout: no DCR
    for figure in figures:
        png = tmp_path / "plots" / f"{figure.name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
        assert f"href='plots/{figure.name}.png'" in html
    assert html.count("data:image/png;base64,") == 2
