from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from core.errors import ConfigError, DataError
from job.config import JobConfig, load_job, parse_job
from validators.thresholds import ImageThresholds, Thresholds

JOBS_DIR = Path(__file__).resolve().parents[2] / "jobs"


def _job(**overrides) -> dict:
    job = {
        "dataset": "wine-test",
        "source": {"builtin": "wine"},
        "generator": {"name": "gaussian_copula"},
        "rows": 100,
    }
    job.update(overrides)
    return job


GENERATION_JOBS = sorted(p for p in JOBS_DIR.glob("*.yaml") if not p.stem.endswith("_augment"))


@pytest.mark.parametrize("path", GENERATION_JOBS, ids=lambda p: p.name)
def test_load_job_every_example_job_is_valid(path):
    # Run
    job = load_job(path)

    # Assert
    assert job.rows > 0 and job.dataset


def test_parse_job_defaults_are_applied():
    # Run
    job = parse_job(_job())

    # Assert
    assert (job.seed, job.shard_rows, job.conditions, job.root) == (0, 100_000, None, None)
    assert job.validation.quality_min == pytest.approx(0.7)


def test_parse_job_unknown_key_names_it_and_allowed_keys():
    # Run / Assert
    with pytest.raises(ConfigError) as info:
        parse_job(_job(generator={"name": "tvae", "parms": {}}))
    assert "generator.parms: unknown key 'parms'; allowed keys: name, params" in str(info.value)


def test_parse_job_unknown_top_level_key_lists_job_keys():
    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape("unknown key 'row'; allowed keys: dataset")):
        parse_job(_job(row=5))


def test_parse_job_unknown_generator_lists_available():
    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape("Unknown generator 'gpt'. Available")):
        parse_job(_job(generator={"name": "gpt"}))


def test_parse_job_bad_generator_param_fails_at_load_time():
    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape("Invalid parameters for generator 'ctgan'")):
        parse_job(_job(generator={"name": "ctgan", "params": {"epochs": -1}}))


@pytest.mark.parametrize("source", [{}, {"builtin": "wine", "path": "x.csv"}])
def test_parse_job_source_needs_exactly_one_of_builtin_path_or_dataset(source):
    # Run / Assert
    with pytest.raises(ConfigError, match="give exactly one of 'builtin', 'path' or 'dataset'"):
        parse_job(_job(source=source))


def test_parse_job_bad_dataset_name_shows_pattern():
    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape("dataset: String should match pattern")):
        parse_job(_job(dataset="My Data!"))


def test_parse_job_unknown_sdtype_lists_valid_ones():
    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape("unknown sdtypes {'target': 'label'}")):
        parse_job(_job(column_sdtypes={"target": "label"}))


def test_parse_job_unknown_threshold_key_is_an_error():
    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape("validation.quality: unknown key 'quality'")):
        parse_job(_job(validation={"quality": 0.5}))


def test_parse_job_reports_every_problem_at_once():
    # Run / Assert
    with pytest.raises(ConfigError) as info:
        parse_job(_job(rows=0, seed=-1))
    assert "rows:" in str(info.value) and "seed:" in str(info.value)


def test_generator_params_adds_job_sdtypes_for_sdv_generators():
    # Setup
    job = parse_job(_job(column_sdtypes={"target": "categorical"}))

    # Run / Assert
    assert job.generator_params() == {"column_sdtypes": {"target": "categorical"}}


def test_load_job_missing_file(tmp_path):
    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape(f"Job file {tmp_path / 'x.yaml'} does not")):
        load_job(tmp_path / "x.yaml")


def test_load_job_not_a_mapping(tmp_path):
    # Setup
    (tmp_path / "job.yaml").write_text(yaml.safe_dump([1, 2]))

    # Run / Assert
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_job(tmp_path / "job.yaml")


def test_load_job_invalid_yaml(tmp_path):
    # Setup
    (tmp_path / "job.yaml").write_text("dataset: [unclosed\n")

    # Run / Assert
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_job(tmp_path / "job.yaml")


BILLION_LAUGHS = """\
dataset: bomb
source: {builtin: wine}
generator: {name: gaussian_copula}
rows: 10
conditions:
  a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
  f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
  g: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
"""


def test_load_job_refuses_yaml_aliases_before_expanding_them(tmp_path):
    # Setup: under 500 bytes that expand to ten million strings
    (tmp_path / "job.yaml").write_text(BILLION_LAUGHS)

    # Run / Assert: at once, naming the file, the alias and its line
    with pytest.raises(ConfigError, match=r"job\.yaml uses the YAML alias \*a at line 7"):
        load_job(tmp_path / "job.yaml")


def test_load_job_refuses_a_file_over_the_size_limit(tmp_path, monkeypatch):
    # Setup
    monkeypatch.setattr("job.config.MAX_YAML_BYTES", 100)
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(_job(conditions={"x": "y" * 200})))

    # Run / Assert
    with pytest.raises(ConfigError, match=r"job\.yaml is \d+ bytes; .* limited to 100 bytes"):
        load_job(tmp_path / "job.yaml")


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"dataset: \xff\xfe\n", "is not UTF-8 text"), (b"[" * 5000, "nests its values too deeply")],
)
def test_load_job_unreadable_text_is_a_config_error(tmp_path, content, message):
    # Setup
    (tmp_path / "job.yaml").write_bytes(content)

    # Run / Assert
    with pytest.raises(ConfigError, match=message):
        load_job(tmp_path / "job.yaml")


def _image_job(**overrides) -> dict:
    job = {
        "dataset": "digits-test",
        "source": {"builtin": "digits"},
        "generator": {"name": "vae", "params": {"steps": 5}},
        "rows": 50,
    }
    job.update(overrides)
    return job


def test_parse_job_image_job_gets_image_thresholds_and_holdout_default():
    # Run
    job = parse_job(_image_job(validation={"pixel_mean_tolerance": 0.1}))

    # Assert
    assert isinstance(job.validation, ImageThresholds)
    assert job.validation.pixel_mean_tolerance == pytest.approx(0.1)
    assert job.holdout_fraction == pytest.approx(0.2)
    assert parse_job(_job()).holdout_fraction == pytest.approx(0.2)


def test_parse_job_image_threshold_key_on_a_table_job_is_unknown():
    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape("unknown key 'pixel_mean_tolerance'")):
        parse_job(_job(validation={"pixel_mean_tolerance": 0.1}))


BUILDERS = [JobConfig.model_validate, lambda raw: JobConfig(**raw)]  # what Prefect and code call


@pytest.mark.parametrize(
    "validation",
    [None, {}, {"expectations_must_pass": False}, {"pixel_mean_tolerance": 0.1}],
    ids=["absent", "empty", "shared-key", "image-key"],
)
@pytest.mark.parametrize("build", BUILDERS, ids=["model_validate", "init"])
def test_job_config_gives_an_image_job_image_thresholds(validation, build):
    # Setup
    raw = _image_job() if validation is None else _image_job(validation=validation)

    # Run
    job = build(raw)

    # Assert
    assert type(job.validation) is ImageThresholds
    assert job.validation.model_dump().items() >= (validation or {}).items()


@pytest.mark.parametrize("build", BUILDERS, ids=["model_validate", "init"])
def test_job_config_gives_a_table_job_table_thresholds(build):
    # Run
    job = build(_job(validation={"expectations_must_pass": False}))

    # Assert
    assert type(job.validation) is Thresholds
    assert job.validation.expectations_must_pass is False


def test_job_config_table_threshold_key_on_an_image_job_is_unknown():
    # Run / Assert
    with pytest.raises(ValidationError) as raised:
        JobConfig.model_validate(_image_job(validation={"quality_min": 0.5}))
    assert [(e["type"], e["loc"]) for e in raised.value.errors()] == [
        ("extra_forbidden", ("validation", "quality_min"))
    ]


def test_parse_job_table_threshold_key_on_an_image_job_names_it_and_image_keys():
    # Run / Assert
    with pytest.raises(ConfigError, match=r"unknown key 'quality_min'; allowed keys: pixel_mean"):
        parse_job(_image_job(validation={"quality_min": 0.5}))


def test_parse_job_table_source_for_image_generator_lists_image_sets():
    # Run / Assert
    with pytest.raises(
        ConfigError, match=re.escape("choose one of ['digits', 'lfw_faces', 'photo_patches']")
    ):
        parse_job(_image_job(source={"builtin": "wine"}))


def test_parse_job_image_options_on_table_job_are_rejected():
    # Run / Assert
    with pytest.raises(ConfigError, match="apply to image generators only"):
        parse_job(_job(balanced_labels=True))


def test_parse_job_max_image_pixels_is_for_image_jobs_and_reaches_the_loader(tmp_path):
    # Setup: one 4x4 image per class, and a job allowing at most 15 pixels per image
    from PIL import Image

    from modalities.real_data import load_real

    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        Image.new("L", (4, 4)).save(tmp_path / label / "0.png")
    source = {"path": str(tmp_path), "image_size": 8, "max_image_pixels": 15}
    job = parse_job(_image_job(source={**source, "holdout_fraction": 0.5}))

    # Run / Assert
    with pytest.raises(DataError, match=r"0\.png is 4x4 = 16 pixels, over the limit of 15"):
        load_real(job, tmp_path)
    with pytest.raises(ConfigError, match="max_image_pixels and balanced_labels apply to image"):
        parse_job(_job(source={"builtin": "wine", "max_image_pixels": 100}))


def test_parse_job_target_without_holdout_is_an_error():
    # Run
    with pytest.raises(ConfigError, match=re.escape("set source.holdout_fraction > 0")):
        parse_job(_job(target="target", source={"builtin": "wine", "holdout_fraction": 0}))


def test_parse_job_target_on_an_image_job_is_an_error():
    # Setup
    image = {"builtin": "digits", "image_size": 8}

    # Run
    with pytest.raises(ConfigError, match="target applies to table jobs only"):
        parse_job(_job(target="label", source=image, generator={"name": "vae"}))


def test_parse_job_checks_by_name_set_the_fields_they_name():
    # Run
    job = parse_job(_job(validation={"checks": {"privacy.nndr": {"margin": 0.3}}}))
    image = parse_job(_image_job(validation={"checks": {"image.cas": {"ratio_min": 0.6}}}))

    # Assert
    assert (job.validation.nndr_margin, job.validation.checks) == (0.3, {})
    assert image.validation.cas_ratio_min == 0.6


@pytest.mark.parametrize(
    ("validation", "message"),
    [
        ({"drop": ["detection.auc"]}, "drop: 'detection.auc' is not a check of the table suite"),
        ({"add": ["privacy.dcr"]}, "add: 'privacy.dcr' is not a check of the table suite"),
        ({"checks": {"quality": {"min": 0.5}}}, "checks: 'quality' is not a check of the table"),
        (
            {"checks": {"privacy.dcr_share": {"min": 0.5}}},
            "checks.privacy.dcr_share.min: check 'privacy.dcr_share' has no threshold 'min'; "
            "its thresholds: ['max']",
        ),
        (
            {"dcr_share_max": 0.6, "checks": {"privacy.dcr_share": {"max": 0.65}}},
            "checks.privacy.dcr_share.max (0.65) and dcr_share_max (0.6) set the same threshold",
        ),
        ({"add": ["columns.summary"]}, "add: ['columns.summary'] have no threshold to gate on"),
        ({"drop": ["privacy.nndr"], "add": ["privacy.nndr"]}, "are in both drop and add"),
    ],
)
def test_parse_job_check_selection_errors_name_the_fix(validation, message):
    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        parse_job(_job(validation=validation))
    if "not a check" in message:
        assert "checks: quality.overall, quality.column_shapes," in str(info.value)


def test_parse_job_image_checks_sharing_a_threshold_are_set_by_its_field():
    # Run / Assert: memorised_share_max gates both memorisation checks
    with pytest.raises(ConfigError, match=re.escape("set memorised_share_max for all of them")):
        parse_job(_image_job(validation={"checks": {"image.memorised_pixel": {"max": 0.1}}}))
    table_check = r"'detection\.c2st_auc' is not a check of the image suite"
    with pytest.raises(ConfigError, match=table_check):
        parse_job(_image_job(validation={"drop": ["detection.c2st_auc"]}))
