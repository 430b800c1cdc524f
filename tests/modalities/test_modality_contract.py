"""One contract over the whole modality registry: every plugin loads its built-in sources, splits
them reproducibly, fingerprints by content, subsets, labels its records and refuses the job options
of other kinds, with the same checks."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest

from core.errors import ConfigError, DataError
from datastore.manifest import KIND_PATTERN
from generators import available_generators, get_generator_class
from job.config import parse_job
from modalities import available_modalities, get_modality, register_modality
from modalities.base import Modality
from validators.suites import SUITES

ROOT = Path(__file__).resolve().parents[2]
# A small labelled source per modality; a newly registered modality fails
# `test_every_modality_has_a_contract_source` until it is added.
SOURCES = {
    "table": ({"builtin": "wine"}, "target"),
    "image": ({"builtin": "digits", "image_size": 8}, "label"),
    "prompted_image": ({"builtin": "digits", "image_size": 8}, "label"),
    "relational": ({"builtin": "sdmetrics_demo", "tables": ["users", "sessions"]}, "country"),
    "sequence": ({"builtin": "grunfeld"}, "firm"),
}
# The job options a modality's jobs need besides their source (and other kinds refuse).
OPTIONS = {"prompted_image": {"prompts": "a handwritten digit {label}"}}
MODALITIES = available_modalities()


def required_params(generator: str) -> list[str]:
    fields = get_generator_class(generator).config_class.model_fields
    return [name for name, field in fields.items() if field.is_required()]


def job_of(name: str, source: dict, options: dict):
    """A one-row job of the first generator of modality `name` that needs no parameters
    (`pretrained`, say, needs the `path` of a pipeline folder)."""
    generator = next(g for g in available_generators(name) if not required_params(g))
    raw = {"dataset": "x", "source": source, "generator": {"name": generator}, "rows": 1}
    return parse_job({**raw, **options})


def test_every_modality_has_a_contract_source():
    # Assert
    assert sorted(SOURCES) == MODALITIES


def test_every_generator_makes_a_registered_modality():
    # Run
    kinds = {get_generator_class(name).modality for name in available_generators()}

    # Assert
    assert kinds <= set(MODALITIES)


def test_a_modality_name_is_registered_once():
    # Run / Assert
    with pytest.raises(ConfigError, match="already registered"):
        register_modality(get_modality("table"))


def test_an_unknown_modality_is_a_config_error_naming_the_registered_ones():
    # Run / Assert
    with pytest.raises(ConfigError, match=re.escape(str(MODALITIES))):
        get_modality("audio")


@pytest.fixture(scope="module", params=MODALITIES)
def loaded(request, tmp_path_factory) -> tuple[Modality, object, str]:
    modality = get_modality(request.param)
    source, label = SOURCES[request.param]
    job = job_of(request.param, source, OPTIONS.get(request.param, {}))
    data, _ = modality.load_job(job, tmp_path_factory.mktemp("root"))
    return modality, data, label


def test_names_are_store_kinds_with_a_suite_and_their_thresholds(loaded):
    # Setup
    modality, _, _ = loaded

    # Assert
    assert re.fullmatch(KIND_PATTERN, modality.name)
    assert modality.thresholds.kind == modality.name
    assert SUITES[modality.name] is modality.thresholds.suite()
    assert modality.builtins and 0 < modality.holdout_default < 1


def test_split_is_seeded_disjoint_and_complete(loaded):
    # Setup
    modality, data, _ = loaded

    # Run
    train, holdout, held = modality.split(data, 0.25, seed=3)
    _, _, again = modality.split(data, 0.25, seed=3)
    _, _, other = modality.split(data, 0.25, seed=4)

    # Assert
    assert held == again and held != other
    assert len(train) + len(holdout) == len(data)
    assert len(holdout) == pytest.approx(0.25 * len(data), abs=modality_classes(loaded))
    kept = np.setdiff1d(np.arange(len(data)), held)
    assert modality.fingerprint(modality.subset(data, kept)) == modality.fingerprint(train)
    assert modality.fingerprint(modality.subset(data, held)) == modality.fingerprint(holdout)


def modality_classes(loaded) -> int:
    """Per-class rounding lets a stratified split miss the share by up to one per class."""
    modality, data, label = loaded
    return modality.class_labels(data, label).nunique()


def test_fingerprint_follows_content_and_order(loaded):
    # Setup
    modality, data, _ = loaded
    positions = np.arange(len(data))

    # Run
    same = modality.fingerprint(modality.subset(data, positions))
    reordered = modality.fingerprint(modality.subset(data, positions[::-1]))
    fewer = modality.fingerprint(modality.subset(data, positions[1:]))

    # Assert
    assert same == modality.fingerprint(data)
    assert len({same, reordered, fewer}) == 3


def test_class_labels_are_one_string_per_record(loaded):
    # Setup
    modality, data, label = loaded

    # Run
    labels = modality.class_labels(data, label)

    # Assert
    assert len(labels) == len(data) and labels.map(type).eq(str).all()
    assert labels.nunique() > 1


@pytest.mark.parametrize("name", MODALITIES)
def test_job_options_of_another_kind_are_refused(name):
    # Setup: the sources and options of every other modality, given to a generator of this one.
    others = [(SOURCES[k][0], OPTIONS.get(k, {})) for k in MODALITIES if k != name]

    # Run / Assert
    for source, options in others:
        with pytest.raises(ConfigError):
            job_of(name, source, options)


@pytest.mark.parametrize("package", ["pipeline", "flows", "synthpipe"])
def test_pipeline_flows_and_cli_never_name_a_modality(package):
    # Run: string constants naming a registered modality, anywhere in the package's code.
    named = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}"
        for path in sorted((ROOT / package).glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and node.value in MODALITIES
    ]

    # Assert: what differs between kinds of data is the plugins'.
    assert named == []


def test_synth_validate_asks_the_plugins_which_kind_the_real_data_is(tmp_path):
    # Setup: a table file, a folder of class folders, and a name nothing reads
    from modalities import files_modality

    (tmp_path / "real.csv").write_text("a,b\n1,2\n")
    (tmp_path / "folders" / "cat").mkdir(parents=True)

    # Run / Assert
    assert files_modality(str(tmp_path / "real.csv")).name == "table"
    assert files_modality(str(tmp_path / "folders")).name == "image"
    assert files_modality("digits").name == "image"
    with pytest.raises(DataError, match="Give a CSV or Parquet table"):
        files_modality(str(tmp_path / "notes.txt"))
