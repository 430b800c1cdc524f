"""`argn` beyond the registry contract: early stopping, conditioning rules, saved files, errors,
and mixed column types in samples."""

from __future__ import annotations

import copy
import json
import re

import numpy as np
import pandas as pd
import pytest

from core.errors import ConfigError, DataError
from generators import Generator, create_generator
from generators.argn import ARGNConfig
from generators.tabular_encoding import RARE_LABEL
from generators.tabular_training import MIN_EPOCHS_WITHOUT_VALIDATION

TINY = {"width": 16, "depth": 1, "heads": 2, "cpu_threads": 1, "verbose": False}


@pytest.fixture(scope="module")
def mixed() -> pd.DataFrame:
    """Zero-inflated amounts, integers, missing values, dates and a rare category."""
    rng = np.random.default_rng(0)
    rows = 300
    group = rng.choice(["a", "b"], rows)
    amount = np.where((group == "a") & (rng.random(rows) < 0.8), 0.0, rng.exponential(20, rows))
    when = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 700, rows), unit="D")
    return pd.DataFrame(
        {
            "group": group,
            "amount": np.round(amount, 2),
            "visits": rng.poisson(3, rows),
            "score": np.where(rng.random(rows) < 0.25, np.nan, np.round(rng.normal(size=rows), 3)),
            "since": when,
            "tier": np.where(np.arange(rows) < 2, "platinum", rng.choice(["x", "y"], rows)),
        }
    )


@pytest.fixture(scope="module")
def fitted(mixed) -> Generator:
    params = {**TINY, "conditional_columns": ["group", "tier"], "max_epochs": 8}
    return create_generator("argn", params).fit(mixed, seed=0)


def test_sample_keeps_dtypes_zeros_integers_and_missing_values(fitted, mixed):
    # Run
    frame = fitted.sample(400, seed=1)

    # Assert
    assert dict(frame.dtypes) == dict(mixed.dtypes)
    assert (frame["amount"] == 0).mean() > 0.2
    assert (frame["amount"] == frame["amount"].round(2)).all()
    assert frame["score"].isna().any() and frame["score"].notna().any()
    assert set(frame["tier"]) <= set(mixed["tier"])


def test_sample_conditions_on_leading_columns_fix_them(fitted):
    # Run
    frame = fitted.sample(20, seed=0, conditions={"group": "a"})
    both = fitted.sample(20, seed=0, conditions={"group": "b", "tier": "x"})

    # Assert
    assert (frame["group"] == "a").all()
    assert (both["group"] == "b").all() and (both["tier"] == "x").all()


def test_sample_conditions_on_a_later_column_raise_config_error_naming_the_fix(fitted):
    # Run / Assert
    with pytest.raises(ConfigError) as info:
        fitted.sample(5, conditions={"visits": 3})
    message = str(info.value)
    assert "conditional_columns=['group', 'tier']" in message
    assert "Refit with conditional_columns=['visits', 'group', 'tier']" in message


def test_sample_conditions_skipping_the_first_conditional_column_raise_config_error(fitted):
    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape("a leading part of conditional_columns")):
        fitted.sample(5, conditions={"tier": "x"})


def test_sample_condition_value_never_seen_raises_data_error(fitted):
    # Run / Assert
    with pytest.raises(DataError, match=re.escape("Column 'group' has values the model never")):
        fitted.sample(5, conditions={"group": "zzz"})


def test_fit_stops_early_and_keeps_the_best_epoch(mixed):
    # Setup: a 30-row validation split counts as large enough here
    params = {**TINY, "max_epochs": 200, "patience": 2, "learning_rate": 0.05}
    params |= {"min_validation_rows": 30}

    # Run
    summary = create_generator("argn", params).fit(mixed, seed=0).training_summary

    # Assert
    assert summary["stopped_early"] and summary["epochs_run"] < 200
    assert summary["epochs_run"] - summary["best_epoch"] == 2
    assert summary["validation_rows"] == 30


def test_fit_small_table_trains_on_every_row_for_at_least_the_minimum_epochs():
    # Setup: 40 rows would hold out 4 for validation, far below min_validation_rows; one pass
    # over them is asked for, fewer epochs than the minimum
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=40), "y": rng.choice(["a", "b"], 40)})
    params = {**TINY, "passes_without_validation": 1}

    # Run
    summary = create_generator("argn", params).fit(frame, seed=0).training_summary

    # Assert
    assert summary["validation_rows"] == 0 and summary["train_rows"] == 40
    assert summary["epochs_run"] == MIN_EPOCHS_WITHOUT_VALIDATION
    assert not summary["stopped_early"]


def test_fit_small_table_is_regularised_and_a_large_one_is_not_unless_asked():
    # Setup
    default, explicit = ARGNConfig(), ARGNConfig(dropout=0.1, token_dropout=0.0)

    # Run / Assert: 999 rows hold out 100 validation rows (the default minimum), 994 hold out 99
    assert default.regularisation(999) == (0.0, 0.0)
    small_dropout, small_token_dropout = default.regularisation(994)
    assert small_dropout > 0 and small_token_dropout > 0
    assert explicit.regularisation(994) == explicit.regularisation(999) == (0.1, 0.0)


def test_fit_numeric_bins_grow_with_the_rows_unless_given():
    # Setup: every value distinct, so each column gets as many bins as it is allowed (clipped
    # extremes would be point masses with bins of their own)
    def bins(rows: int, **params: object) -> int:
        frame = pd.DataFrame({"x": np.arange(rows) * 0.5})
        params = {**TINY, "max_epochs": 1, "protect_extremes": False, **params}
        generator = create_generator("argn", params).fit(frame)
        return len(generator.encoding.columns[0].knots)

    # Run / Assert
    assert bins(100) < bins(400) < bins(4000)
    assert bins(100, numeric_bins=30) == 30


def test_fit_without_validation_runs_every_epoch(mixed):
    # Run
    summary = (
        create_generator("argn", {**TINY, "max_epochs": 3, "validation_fraction": 0})
        .fit(mixed, seed=0)
        .training_summary
    )

    # Assert
    assert summary["epochs_run"] == 3 and not summary["stopped_early"]
    assert summary["validation_rows"] == 0 and summary["best_val_loss"] is None


def test_save_writes_safetensors_and_json_only(fitted, tmp_path):
    # Run
    fitted.save(tmp_path)

    # Assert
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "generator.json",
        "model.json",
        "model.safetensors",
    ]
    state = json.loads((tmp_path / "model.json").read_text())
    assert [c["column"] for c in state["encoding"]][:2] == ["group", "tier"]


def test_load_of_a_model_saved_in_an_older_state_format_names_the_refit(fitted, tmp_path):
    # Setup: a saved model whose state predates the format marker
    from generators import load_saved_generator

    fitted.save(tmp_path)
    state = json.loads((tmp_path / "model.json").read_text())
    del state["format"]
    (tmp_path / "model.json").write_text(json.dumps(state))

    # Run / Assert
    with pytest.raises(DataError, match=r"older Synthpipe.*Re-fit the 'argn' model"):
        load_saved_generator(tmp_path)


def test_fit_table_with_a_category_per_row_samples_no_training_word():
    # Setup: distinct words, not a key (no key-like name or numbered content)
    frame = pd.DataFrame({"word": [f"w{i}x" for i in range(40)], "x": np.arange(40.0)})

    # Run
    sample = create_generator("argn", {**TINY, "max_epochs": 1}).fit(frame).sample(30)

    # Assert: every word is one person's; the protected token decodes to the rare label
    assert (sample["word"] == RARE_LABEL).all()


@pytest.mark.parametrize("k", [3, 5])
def test_sample_never_emits_a_category_seen_fewer_than_k_times_nor_a_lone_extreme(k):
    # Setup: categories seen 1..6 times beside two frequent ones; a numeric column whose
    # extremes are single rows
    rng = np.random.default_rng(0)
    counts = {"rare1": 1, "rare2": 2, "rare3": 3, "rare4": 4, "rare5": 5, "rare6": 6}
    labels = [v for v, n in counts.items() for _ in range(n)]
    labels += list(rng.choice(["common_a", "common_b"], 300 - len(labels)))
    x = rng.normal(size=300)
    frame = pd.DataFrame({"label": rng.permutation(labels), "x": x})
    params = {**TINY, "max_epochs": 3, "rare_category_min_count": k}

    # Run
    sample = create_generator("argn", params).fit(frame, seed=0).sample(3000, seed=0)

    # Assert
    seen = sample["label"].value_counts()
    assert not [v for v in seen.index if counts.get(v, k) < k]
    assert "common_a" in seen.index and "common_b" in seen.index
    ordered = np.sort(x)
    assert sample["x"].min() >= ordered[k - 1] and sample["x"].max() <= ordered[-k]


def test_fit_with_privacy_check_reports_the_kept_epochs_dcr_share(mixed):
    # Setup: a 30-row validation split counts as large enough here
    params = {**TINY, "max_epochs": 4, "min_validation_rows": 30}

    # Run
    checked = create_generator("argn", params).fit(mixed, seed=0).training_summary
    unchecked = create_generator("argn", {**params, "max_dcr_share": None})
    plain = unchecked.fit(mixed, seed=0).training_summary

    # Assert
    assert checked["privacy_limit"] == ARGNConfig().max_dcr_share
    assert 0 <= checked["best_dcr_share"] <= 1
    assert plain["privacy_limit"] is None and plain["best_dcr_share"] is None


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"a": [1.0]}), "has 1 row(s)"),
        (pd.DataFrame({"a": [1, 2, 3], "b": [np.nan] * 3}), "Column(s) ['b'] are entirely missing"),
    ],
)
def test_fit_unusable_table_raises_data_error(frame, message):
    # Run / Assert
    with pytest.raises(DataError, match=re.escape(message)):
        create_generator("argn", TINY).fit(frame)


def test_fit_unknown_conditional_column_raises_config_error(mixed):
    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape("conditional_columns names columns not in")):
        create_generator("argn", {**TINY, "conditional_columns": ["colour"]}).fit(mixed)


def test_config_width_not_divisible_by_heads_raises_config_error():
    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape("width=30 must be a multiple of heads=4")):
        create_generator("argn", {"width": 30, "heads": 4})


def test_sample_in_small_passes_generates_each_row_from_its_own_condition(fitted):
    # Setup: 60 per-row conditions generated 7 rows per pass (9 passes, the last one partial);
    # in the data, amount is zero in 80 % of group "a" rows and (almost) never in group "b"
    chunked = copy.copy(fitted)
    chunked.config = fitted.config.model_copy(update={"sample_batch_size": 7})
    groups = pd.DataFrame({"group": ["a"] * 30 + ["b"] * 30})

    # Run
    frame = chunked.sample(60, seed=0, conditions=groups)

    # Assert: the generated amounts follow each row's own group, not another pass's
    zeros = (frame["amount"] == 0).groupby(frame["group"]).mean()
    assert zeros["a"] > zeros["b"] + 0.3


def test_token_dropout_one_leaves_ordered_tokens_only_their_level_in_training():
    # Setup: position 0 ordered (three bins with levels), position 1 a category (level 0)
    import torch

    from generators.argn_network import ARGNTransformer

    torch.manual_seed(0)
    model = ARGNTransformer(
        cardinalities=[3, 2, 2],
        levels=[[-0.5, 0.0001, 0.5], [0.0, 0.0], [0.0, 0.0]],
        width=8,
        depth=1,
        heads=2,
        dropout=0.0,
        token_dropout=1.0,
    )
    tokens = torch.tensor([[0, 1, 0], [2, 0, 1]])

    def loss_after_changing(rows: slice) -> tuple[float, float]:
        """Training-mode loss before and after new embeddings for `rows` of the vocabulary."""
        with torch.no_grad():
            before = float(model.train().loss(tokens))
            weight = model.token_embedding.weight
            weight[rows] += torch.randn_like(weight[rows])
            return before, float(model.loss(tokens))

    # Run
    ordered = loss_after_changing(slice(0, 3))
    category = loss_after_changing(slice(3, 5))
    with torch.no_grad():
        in_eval = float(model.eval().loss(tokens))

    # Assert: the bins' own embeddings are dropped, the category's and (in eval) all are used
    assert ordered[0] == pytest.approx(ordered[1])
    assert category[0] != pytest.approx(category[1])
    with torch.no_grad():
        assert in_eval != pytest.approx(float(model.train().loss(tokens)))
