"""Constraints hold for every registered tabular generator: each kind, fitted with tiny settings
on a table whose real rows hold them, gives 0 violating rows; with conditions too; after save and
load; and a request reject sampling cannot meet is a clear error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.constraints import parse_constraints
from core.errors import ConfigError, ConstraintError, InfeasibleConstraintError
from generators import Generator, available_generators, create_generator, load_saved_generator
from generators.constraint_plan import ConstraintPlan

# Tiny settings per family (conditioning on `segment`, the column conditions fix below).
TINY: dict[str, dict] = {
    "gaussian_copula": {},
    "ctgan": {"epochs": 2, "batch_size": 40, "verbose": False},
    "tvae": {"epochs": 2, "batch_size": 40, "verbose": False},
    "copulagan": {"epochs": 2, "batch_size": 40, "verbose": False},
    "argn": {
        "conditional_columns": ["segment"],
        "max_epochs": 2,
        "width": 16,
        "depth": 1,
        "heads": 2,
        "cpu_threads": 1,
        "verbose": False,
    },
    "tabddpm": {
        "conditional_columns": ["segment"],
        "max_epochs": 2,
        "steps": 10,
        "hidden": [32],
        "cpu_threads": 1,
        "verbose": False,
    },
}
TABULAR = available_generators("table")
KINDS = [
    {"kind": "inequality", "low": "start", "high": "end", "strict": True},
    {"kind": "range", "column": "paid", "low": "start", "high": "end"},
    {"kind": "range", "column": "score", "low": 0, "high": 10, "strict": True},
    {"kind": "formula", "column": "total", "expression": "price * qty"},
    {"kind": "fixed_increments", "column": "minutes", "increment": 15},
    {"kind": "one_hot", "columns": ["plan_a", "plan_b", "plan_c"]},
    {"kind": "fixed_combinations", "columns": ["city", "country"]},
    {"kind": "predicate", "expression": "qty < 4 or price > 5"},
]
CONSTRAINTS = parse_constraints(KINDS)


def test_every_tabular_generator_has_tiny_settings():
    # Assert
    assert sorted(TINY) == TABULAR


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    """300 rows holding every constraint of KINDS, with real dependencies between columns."""
    rng = np.random.default_rng(0)
    n = 300
    start = rng.normal(100, 20, n).round(2)
    end = start + rng.gamma(2, 5, n).round(2) + 0.01
    qty = rng.integers(1, 6, n)
    price = rng.choice([5.0, 10.0, 15.0], n)
    plan = rng.integers(0, 3, n)
    city = rng.choice(["lyon", "paris", "porto"], n)
    frame = pd.DataFrame(
        {
            "segment": rng.choice(["retail", "business"], n),
            "start": start,
            "end": end,
            "paid": start + rng.uniform(0, 1, n) * (end - start),
            "score": rng.uniform(0.5, 9.5, n).round(1),
            "price": price,
            "qty": qty,
            "total": price * qty,
            "minutes": rng.integers(0, 12, n) * 15,
            "plan_a": (plan == 0).astype(int),
            "plan_b": (plan == 1).astype(int),
            "plan_c": (plan == 2).astype(int),
            "city": city,
            "country": np.where(city == "porto", "pt", "fr"),
        }
    )
    return frame[(frame.qty < 4) | (frame.price > 5)].reset_index(drop=True)


@pytest.fixture(scope="module", params=TABULAR)
def fitted(request, table) -> Generator:
    params = {**TINY[request.param], "constraints": KINDS}
    return create_generator(request.param, params).fit(table, seed=0)


def _violations(frame: pd.DataFrame, table: pd.DataFrame) -> dict[str, int]:
    from core.constraints import check_against, violation_counts

    checked = [
        c.with_combinations(table) if hasattr(c, "with_combinations") else c for c in CONSTRAINTS
    ]
    assert check_against(table, checked)  # the real rows hold them
    counts = violation_counts(frame, checked).sum(axis=0)
    return {c.describe(): int(n) for c, n in zip(checked, counts, strict=True)}


def test_every_kind_holds_on_every_sampled_row(fitted, table):
    # Run
    frame = fitted.sample(120, seed=1)

    # Assert
    assert list(frame.columns) == list(table.columns) and len(frame) == 120
    assert _violations(frame, table) == {c.describe(): 0 for c in CONSTRAINTS}
    assert frame.dtypes.equals(table.dtypes)


def test_conditions_and_constraints_hold_together(fitted, table):
    # Run
    frame = fitted.sample(60, seed=2, conditions={"segment": "business"})

    # Assert
    assert set(frame["segment"]) == {"business"} and len(frame) == 60
    assert not any(_violations(frame, table).values())


def test_saved_and_loaded_generator_repeats_its_constrained_sample(fitted, tmp_path):
    # Run
    fitted.save(tmp_path)
    again = load_saved_generator(tmp_path)

    # Assert
    pd.testing.assert_frame_equal(fitted.sample(40, seed=5), again.sample(40, seed=5))


def test_most_kinds_are_transforms_and_only_the_predicate_is_reject_sampled(fitted):
    # Assert: the family learns derived columns, not the constrained ones
    assert fitted.plan is not None
    assert fitted.plan.describe_rejected() == ["predicate qty < 4 or price > 5"]
    assert "total" not in fitted.plan.learned and "end" not in fitted.plan.learned


def test_conditions_on_a_replaced_column_hold_exactly_with_every_constraint(fitted, table):
    # Setup: `end` is learned as a gap above `start` and `paid`; the family never sees it
    end = float(table["end"].median())

    # Run
    frame = fitted.sample(20, seed=3, conditions={"end": end, "segment": "retail"})

    # Assert
    assert frame["end"].eq(end).all() and frame["segment"].eq("retail").all()
    assert not any(_violations(frame, table).values())


def test_conditions_on_a_one_hot_column_fix_its_group(table):
    # Setup: SDV families condition on any column
    generator = create_generator("gaussian_copula", {"constraints": KINDS}).fit(table, seed=0)

    # Run
    frame = generator.sample(30, seed=0, conditions={"plan_b": 1})

    # Assert
    assert frame["plan_b"].eq(1).all() and frame[["plan_a", "plan_c"]].eq(0).all().all()


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        ({"total": 10.0}, "derives from other columns"),
        ({"minutes": 7}, "break constraint 'fixed_increments of 15 on minutes'"),
        ({"city": "porto", "country": "fr"}, "break constraint .fixed_combinations"),
        ({"city": "porto"}, "fix all of"),
        ({"qty": 5, "price": 5.0}, "break constraint 'predicate"),
    ],
)
def test_conditions_a_constraint_cannot_take_are_errors_naming_the_fix(table, conditions, message):
    # Setup
    generator = create_generator("gaussian_copula", {"constraints": KINDS}).fit(table, seed=0)

    # Run / Assert
    with pytest.raises(ConfigError, match=message):
        generator.sample(10, seed=0, conditions=conditions)


def test_a_predicate_samples_can_hardly_meet_is_infeasible_with_its_rate():
    # Setup: y is exactly x squared in the real rows; a copula's samples almost never are
    x = np.random.default_rng(0).uniform(0, 1, 200).round(3)
    real = pd.DataFrame({"x": x, "y": x * x})
    predicate = {"kind": "predicate", "expression": "abs(y - x * x) < 1e-12"}
    generator = create_generator("gaussian_copula", {"constraints": [predicate]}).fit(real, seed=0)

    # Run / Assert
    with pytest.raises(InfeasibleConstraintError, match=r"acceptance rate 0\.00%"):
        generator.sample(50, seed=0)


def test_training_data_breaking_a_constraint_fails_the_fit(table):
    # Setup
    broken = table.assign(total=table["total"] + 1)

    # Run / Assert
    with pytest.raises(ConstraintError, match="breaks constraint 'formula total = price \\* qty'"):
        create_generator("gaussian_copula", {"constraints": KINDS}).fit(broken, seed=0)


def test_a_conditional_column_is_never_replaced_by_a_transform(table):
    # Setup: argn must see `segment` as it is to condition on it
    constraints = parse_constraints(
        [{"kind": "fixed_combinations", "columns": ["segment", "city"]}]
    )

    # Run
    plan = ConstraintPlan.build(table, constraints, keep=["segment"])

    # Assert
    assert plan.transforms == [] and plan.rejected == constraints
    assert "segment" in plan.learned


def test_transforms_reading_a_replaced_column_run_first_and_invert_last(table):
    # Setup: the inequality replaces `end`, which the range declared after it reads
    constraints = parse_constraints(
        [
            {"kind": "inequality", "low": "start", "high": "end"},
            {"kind": "range", "column": "paid", "low": "start", "high": "end"},
        ]
    )
    plan = ConstraintPlan.build(table, constraints)

    # Run
    back = plan.inverse(plan.transform(table))

    # Assert
    np.testing.assert_allclose(back[["start", "end", "paid"]], table[["start", "end", "paid"]])
    assert plan.rejected == ()
    assert [t.constraint.kind for t in plan.transforms] == ["range", "inequality"]


def test_inequalities_on_datetimes_keep_their_dtype_and_order():
    # Setup
    rng = np.random.default_rng(0)
    start = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, 200), unit="D")
    real = pd.DataFrame(
        {"start": start, "end": start + pd.to_timedelta(rng.integers(1, 30, 200), unit="D")}
    )
    strict = [{"kind": "inequality", "low": "start", "high": "end", "strict": True}]
    generator = create_generator("gaussian_copula", {"constraints": strict}).fit(real, seed=0)

    # Run
    frame = generator.sample(300, seed=0)

    # Assert
    assert frame.dtypes.equals(real.dtypes)
    assert (frame["end"] > frame["start"]).all()


def test_inequalities_sharing_their_high_column_merge_into_one_transform(table):
    # Setup: `end` above `start` and above `paid`, and a range's bounds ordered on `end` too
    constraints = parse_constraints(
        [
            {"kind": "inequality", "low": "start", "high": "end", "strict": True},
            {"kind": "inequality", "low": "paid", "high": "end"},
            {"kind": "range", "column": "score", "low": "paid", "high": "end"},
        ]
    )
    frame = table.assign(score=table["paid"] + 0.5 * (table["end"] - table["paid"]))

    # Run
    plan = ConstraintPlan.build(frame, constraints)
    learned = plan.transform(frame)
    noisy = learned.assign(**{c: learned[c] - 5.0 for c in learned if c.endswith("#inequality")})

    # Assert: nothing left to reject sampling, and even a shifted gap maps back to valid rows
    assert plan.rejected == () and len(plan.transforms) == 2
    np.testing.assert_allclose(plan.inverse(learned)["end"], frame["end"])
    assert not plan.violated(plan.inverse(noisy)).any()
