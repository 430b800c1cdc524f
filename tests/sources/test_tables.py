from __future__ import annotations

import re

import pandas as pd
import pytest

from core.errors import DataError
from sources.tables import fingerprint, load_builtin, load_table, rows_matching


@pytest.mark.parametrize(
    ("name", "rows", "columns"), [("wine", 178, 14), ("breast_cancer", 569, 31), ("fair", 6366, 9)]
)
def test_load_builtin_returns_real_table_with_expected_shape(name, rows, columns):
    # Run
    frame = load_builtin(name)

    # Assert
    assert frame.shape == (rows, columns)
    assert frame.notna().all().all()


def test_load_builtin_wine_target_is_named_class():
    # Run
    frame = load_builtin("wine")

    # Assert
    assert sorted(frame["target"].unique()) == ["class_0", "class_1", "class_2"]


def test_load_builtin_fair_codes_are_categories_and_affairs_numeric():
    # Run
    frame = load_builtin("fair")

    # Assert
    assert frame["rate_marriage"].dtype == object
    assert set(frame["rate_marriage"]) == {"1", "2", "3", "4", "5"}
    assert frame["affairs"].dtype == float
    assert (frame["affairs"] == 0).mean() > 0.6  # zero-inflated


def test_load_builtin_diabetes_is_unscaled_with_a_numeric_target():
    # Run
    frame = load_builtin("diabetes")

    # Assert (raw measurements, not scikit-learn's mean-centred default)
    assert frame.shape == (442, 11)
    assert set(frame["sex"]) == {1.0, 2.0}
    assert frame["age"].min() >= 18
    assert frame["target"].dtype == float


def test_load_builtin_unknown_name_lists_available():
    # Run / Assert
    available = "available: ['breast_cancer', 'diabetes', 'fair', 'wine']"
    with pytest.raises(DataError, match=re.escape(available)):
        load_builtin("iris3")


def test_load_table_csv_and_parquet_round_trip(tmp_path, wine):
    # Setup
    wine.to_csv(tmp_path / "w.csv", index=False)
    wine.to_parquet(tmp_path / "w.parquet")

    # Run
    from_csv = load_table(tmp_path / "w.csv")
    from_parquet = load_table(tmp_path / "w.parquet")

    # Assert
    pd.testing.assert_frame_equal(from_parquet, wine)
    pd.testing.assert_frame_equal(from_csv, wine)


def test_load_table_missing_file_names_it(tmp_path):
    # Run / Assert
    with pytest.raises(DataError, match=re.escape(f"Source file {tmp_path / 'nope.csv'} does not")):
        load_table(tmp_path / "nope.csv")


def test_load_table_empty_file_says_empty(tmp_path):
    # Setup
    (tmp_path / "empty.csv").write_text("")

    # Run / Assert
    with pytest.raises(DataError, match=re.escape("is empty (0 bytes)")):
        load_table(tmp_path / "empty.csv")


def test_load_table_header_only_csv_has_no_rows(tmp_path):
    # Setup
    (tmp_path / "header.csv").write_text("a,b\n")

    # Run / Assert
    with pytest.raises(DataError, match="has no data rows"):
        load_table(tmp_path / "header.csv")


def test_load_table_binary_file_disguised_as_csv_is_rejected(tmp_path):
    # Setup
    (tmp_path / "image.csv").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)

    # Run / Assert
    with pytest.raises(DataError, match="could not be read as CSV"):
        load_table(tmp_path / "image.csv")


def test_load_table_non_tabular_suffix_lists_supported(tmp_path):
    # Setup
    (tmp_path / "digits.png").write_bytes(b"\x89PNG\r\n")

    # Run / Assert
    with pytest.raises(DataError, match=re.escape("has suffix '.png'")):
        load_table(tmp_path / "digits.png")


def test_load_table_corrupt_parquet_is_rejected(tmp_path):
    # Setup
    (tmp_path / "bad.parquet").write_text("not parquet at all")

    # Run / Assert
    with pytest.raises(DataError, match="could not be read as Parquet"):
        load_table(tmp_path / "bad.parquet")


def test_load_table_parquet_folder_refuses_links_leading_outside(tmp_path, wine):
    # Setup: a folder of parts, one of them a link to a file elsewhere, and a linked subfolder
    (tmp_path / "parts").mkdir()
    wine.to_parquet(tmp_path / "parts" / "part-0.parquet")
    wine.to_parquet(tmp_path / "other.parquet")
    (tmp_path / "parts" / "part-1.parquet").symlink_to(tmp_path / "other.parquet")

    # Run / Assert
    with pytest.raises(DataError, match=r"part-1\.parquet is a link to .*other\.parquet, outside"):
        load_table(tmp_path / "parts")
    (tmp_path / "parts" / "part-1.parquet").unlink()
    (tmp_path / "parts" / "more").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(DataError, match=r"more is a link to .*elsewhere, outside"):
        load_table(tmp_path / "parts")


def test_load_table_parquet_folder_reads_links_inside_it(tmp_path, wine):
    # Setup
    (tmp_path / "parts").mkdir()
    wine.to_parquet(tmp_path / "parts" / "part-0.parquet")
    (tmp_path / "parts" / "part-1.parquet").symlink_to(tmp_path / "parts" / "part-0.parquet")

    # Run
    frame = load_table(tmp_path / "parts")

    # Assert
    assert len(frame) == 2 * len(wine)


def test_fingerprint_is_stable_and_sensitive_to_values_and_dtypes(wine):
    # Setup
    changed = wine.copy()
    changed.loc[0, "alcohol"] += 0.01
    retyped = wine.astype({"proline": "float32"})

    # Assert
    assert fingerprint(wine) == fingerprint(wine.copy())
    assert fingerprint(changed) != fingerprint(wine)
    assert fingerprint(retyped) != fingerprint(wine)


def test_rows_matching_filters_and_checks_columns(wine):
    # Run
    subset = rows_matching(wine, {"target": "class_1"})

    # Assert
    assert len(subset) == (wine["target"] == "class_1").sum()
    with pytest.raises(DataError, match=re.escape("Condition column(s) ['colour']")):
        rows_matching(wine, {"colour": "red"})
    with pytest.raises(DataError, match="No source rows match"):
        rows_matching(wine, {"target": "class_9"})
