"""Keys of a relational dataset: bad relationships are clear errors before anything is fitted."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from core.errors import ConfigError, DataError
from core.relational import RelationalData, Relationship, depth

PARENT = pd.DataFrame({"pid": [1, 2, 3], "x": [0.1, 0.2, 0.3]})
CHILD = pd.DataFrame({"cid": [10, 11, 12, 13], "pid": [1, 1, 3, None], "y": list("abcd")})
REL = Relationship("parent", "pid", "child", "pid")
KEYS = {"parent": "pid", "child": "cid"}


def test_tables_are_ordered_parents_first_and_counted_by_the_subject():
    # Run
    data = RelationalData({"child": CHILD, "parent": PARENT}, KEYS, (REL,))

    # Assert
    assert list(data.tables) == ["parent", "child"] and len(data) == 3 and depth(data) == 2


def test_a_foreign_key_pointing_at_a_missing_parent_is_a_data_error():
    # Setup
    orphan = CHILD.assign(pid=[1, 7, 3, None])

    # Run / Assert
    with pytest.raises(DataError, match=re.escape("child.pid -> parent.pid: 1 row(s)")):
        RelationalData({"parent": PARENT, "child": orphan}, KEYS, (REL,))


def test_a_cycle_is_a_data_error_naming_it():
    # Setup: the parent also points at the child
    parent = PARENT.assign(cid=[10, 11, 12])
    back = Relationship("child", "cid", "parent", "cid")

    # Run / Assert
    with pytest.raises(DataError, match="cycle among tables"):
        RelationalData({"parent": parent, "child": CHILD}, KEYS, (REL, back))


def test_unknown_columns_and_duplicated_primary_keys_are_refused():
    # Run / Assert
    with pytest.raises(ConfigError, match=r"column child\.nope"):
        RelationalData(
            {"parent": PARENT, "child": CHILD},
            KEYS,
            (Relationship("parent", "pid", "child", "nope"),),
        )
    with pytest.raises(DataError, match=r"parent\.pid must be unique"):
        RelationalData({"parent": pd.concat([PARENT, PARENT])}, {"parent": "pid"})


def test_subset_keeps_the_descendants_of_kept_subject_rows():
    # Setup
    data = RelationalData({"parent": PARENT, "child": CHILD}, KEYS, (REL,))

    # Run
    kept = data.subset([2, 0])

    # Assert: parent 3 then 1; their children and the child without a parent
    assert kept.tables["parent"]["pid"].tolist() == [3, 1]
    assert kept.tables["child"]["cid"].tolist() == [10, 11, 12, 13]
    assert data.subset([1]).tables["child"]["cid"].tolist() == [13]
