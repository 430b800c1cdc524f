"""The prompted_image plugin: a job's `prompts:`, the images it captions, the per-shard plan it
samples and the rows it writes."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.errors import ConfigError, DataError
from core.image_parts import image_records, image_schema
from core.images import ImageData
from job.config import parse_job
from modalities import get_modality
from modalities.image import image_frame
from modalities.prompts import PromptsConfig
from pipeline.steps import shard_plan

DIGITS = [str(d) for d in range(10)]


def prompted_job(**overrides):
    raw = {
        "dataset": "digits-prompted",
        "source": {"builtin": "digits"},
        "generator": {"name": "t2i"},
        "prompts": "a handwritten digit {label}",
        "rows": 25,
        **overrides,
    }
    return parse_job(raw)


# What sample_conditions reads of a fitted generator: the labels it was fitted on.
FITTED = SimpleNamespace(spec=SimpleNamespace(label_names=DIGITS, prompts=None))


def test_prompts_take_a_template_a_label_mapping_or_the_long_form():
    # Run
    short = PromptsConfig.model_validate("a photo of a {label}")
    mapping = PromptsConfig.model_validate({3: "a three", "7": "a {label}"})
    long = PromptsConfig.model_validate({"template": "a photo of a {label}"})

    # Assert
    assert short == long and short.prompt("cat") == "a photo of a cat"
    assert mapping.labels == {"3": "a three", "7": "a {label}"}
    assert mapping.classes(DIGITS) == ["3", "7"] and mapping.prompt("7") == "a 7"


@pytest.mark.parametrize(
    ("prompts", "message"),
    [
        ("a photo of a {name}", "only placeholder is {label}"),
        ("a {label", "not a valid template"),
        ("{label}", None),
        ({"template": "a {label}", "labels": {"1": "one"}}, "not both"),
    ],
)
def test_bad_prompts_are_config_errors_naming_the_fix(prompts, message):
    # Run / Assert
    if message is None:  # a bare placeholder is a valid (if terse) prompt
        assert prompted_job(prompts=prompts).prompts.prompt("3") == "3"
        return
    with pytest.raises(ConfigError, match=message):
        prompted_job(prompts=prompts)


def test_a_prompted_job_needs_prompts_and_refuses_label_conditions():
    # Run / Assert
    with pytest.raises(ConfigError, match="give the job `prompts:`"):
        prompted_job(prompts=None)
    with pytest.raises(ConfigError, match="do not apply to text-to-image"):
        prompted_job(conditions={"label": "3"})
    with pytest.raises(ConfigError, match="prompts apply to text-to-image"):
        parse_job({**prompted_job().model_dump(mode="json"), "generator": {"name": "ddpm"}})


def test_load_captions_the_prompted_labels_only_and_fingerprints_the_prompts(tmp_path):
    # Setup
    modality = get_modality("prompted_image")
    mapping = prompted_job(prompts={"3": "a three", "7": "a digit {label}"})
    other = prompted_job(prompts={"3": "a 3", "7": "a digit {label}"})

    # Run
    data, origin = modality.load_job(mapping, tmp_path)
    again, _ = modality.load_job(other, tmp_path)

    # Assert
    assert origin == "builtin:digits" and data.label_names == DIGITS
    labels = [data.label_names[i] for i in data.labels]
    assert set(labels) == {"3", "7"}
    assert list(data.prompts) == ["a three" if x == "3" else "a digit 7" for x in labels]
    assert modality.fingerprint(data) != modality.fingerprint(again)


def test_shards_sample_consecutive_rows_of_one_class_balanced_plan():
    # Setup
    job = prompted_job(prompts={"1": "one", "2": "two", "5": "five"}, rows=25)
    modality = job.modality

    # Run
    parts = [
        modality.sample_conditions(job, FITTED, shard.rows, shard.first_index)
        for shard in shard_plan(job.rows, 10, seed=0)
    ]

    # Assert
    whole = pd.concat(parts, ignore_index=True)
    assert [len(p) for p in parts] == [10, 10, 5]
    assert list(whole.columns) == ["prompt", "label"]
    assert whole["label"].value_counts().to_dict() == {"1": 9, "2": 8, "5": 8}
    assert (whole["prompt"] == whole["label"].map({"1": "one", "2": "two", "5": "five"})).all()
    assert job.prompts.counts(job.prompts.pairs(DIGITS), 25) == {"one": 9, "two": 8, "five": 8}


def test_a_prompt_mapping_naming_an_unknown_label_fails_before_fitting(tmp_path):
    # Setup
    job = prompted_job(prompts={"3": "a three", "cat": "a cat"})

    # Run / Assert
    with pytest.raises(DataError, match=r"\['cat'\]"):
        job.modality.load_job(job, tmp_path)


def test_rows_per_prompt_gives_each_prompt_exactly_that_many_images():
    # Setup
    prompts = {"labels": {3: "a three", 7: "a seven"}, "rows_per_prompt": 4}
    job = prompted_job(prompts=prompts, rows=8)

    # Run
    plan = job.modality.sample_conditions(job, FITTED, job.rows, 0)

    # Assert
    assert job.prompts.labels == {"3": "a three", "7": "a seven"}
    assert plan["prompt"].value_counts().to_dict() == {"a three": 4, "a seven": 4}


def test_rows_disagreeing_with_rows_per_prompt_fail_before_fitting_naming_the_total(tmp_path):
    # Setup: a template covers all ten digits, so 3 per prompt is 30 images.
    job = prompted_job(prompts={"template": "a digit {label}", "rows_per_prompt": 3}, rows=25)

    # Run / Assert
    with pytest.raises(DataError, match=r"10 prompts is 30 images.*rows: 25.*set rows: 30"):
        job.modality.load_job(job, tmp_path)
    with pytest.raises(ConfigError, match="rows_per_prompt"):
        prompted_job(prompts={"template": "a {label}", "rows_per_prompt": 0})


def captioned_parquet(path, captions):
    """Six digits as image Parquet with a `caption` text column (None: a row without one)."""
    from sources.images import load_digits_images

    data = load_digits_images().subset(range(6))
    records = image_records(image_frame(data), label_names=data.label_names, seed=0, first_index=0)
    records["caption"] = captions
    schema = image_schema(data.label_names, extra=[pa.field("caption", pa.string())])
    pq.write_table(pa.Table.from_pandas(records, schema=schema, preserve_index=False), path)
    return data


def test_a_captions_column_gives_each_image_its_caption_and_the_plan_draws_them(tmp_path):
    # Setup
    captions = ["a round zero", "a thin one", "a two", "a three", "a four", "a thin one"]
    digits = captioned_parquet(tmp_path / "captioned.parquet", captions)
    job = prompted_job(
        source={"path": str(tmp_path / "captioned.parquet")},
        prompts={"captions_column": "caption"},
        rows=5,
    )

    # Run
    data, _ = job.modality.load_job(job, tmp_path)
    fitted = SimpleNamespace(spec=SimpleNamespace(label_names=DIGITS, prompts=data.prompt_pairs()))
    plan = job.modality.sample_conditions(job, fitted, job.rows, 0)

    # Assert
    assert list(data.prompts) == captions
    names = [digits.label_names[i] for i in digits.labels]
    pairs = set(zip(captions, names, strict=True))
    assert data.prompt_pairs() == sorted(pairs, key=lambda pair: pair[::-1])
    assert plan.to_dict("list") == {
        "prompt": ["a round zero", "a thin one", "a two", "a three", "a four"],
        "label": names[:5],
    }


@pytest.mark.parametrize(
    ("source", "captions", "message"),
    [
        ({"builtin": "digits"}, None, "has no captions: caption it with a template"),
        ("parquet", [None, "a", "b", "c", "d", "e"], r"1 row\(s\) .* no caption in 'caption'"),
        ("parquet-other-column", None, "has no captions column 'caption'"),
    ],
)
def test_bad_caption_sources_fail_before_fitting_naming_the_fix(
    tmp_path, source, captions, message
):
    # Setup
    if source == "parquet":
        captioned_parquet(tmp_path / "c.parquet", captions)
    elif source == "parquet-other-column":
        captioned_parquet(tmp_path / "c.parquet", list("abcdef"))
        table = pq.read_table(tmp_path / "c.parquet").rename_columns({"caption": "note"})
        pq.write_table(table, tmp_path / "c.parquet")
    job = prompted_job(
        source=source if isinstance(source, dict) else {"path": str(tmp_path / "c.parquet")},
        prompts={"captions_column": "caption"},
    )

    # Run / Assert
    with pytest.raises(DataError, match=message):
        job.modality.load_job(job, tmp_path)


def test_captions_refuse_rows_per_prompt_and_a_template_beside_them():
    # Run / Assert
    with pytest.raises(ConfigError, match="rows_per_prompt applies to prompt templates"):
        prompted_job(prompts={"captions_column": "caption", "rows_per_prompt": 2})
    with pytest.raises(ConfigError, match="exactly one"):
        prompted_job(prompts={"captions_column": "caption", "template": "a {label}"})


def test_prompt_pairs_are_distinct_by_label_order_then_prompt():
    # Setup
    images = ImageData(
        np.zeros((4, 1, 8, 8), dtype=np.float32),
        np.array([1, 0, 1, 0]),
        ["cat", "dog"],
        prompts=("b dog", "z cat", "a dog", "z cat"),
    )

    # Run / Assert
    assert images.prompt_pairs() == [("z cat", "cat"), ("a dog", "dog"), ("b dog", "dog")]
