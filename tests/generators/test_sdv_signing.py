"""SDV's pickled synthesizers load only when signed by this installation: a pickle planted in the
model cache or in a published version's `model/` is refused before it is unpickled."""

from __future__ import annotations

import json
import pickletools
import shutil

import pandas as pd
import pytest

from core.errors import UntrustedFileError
from core.signing import CONFIG_DIR_ENV_VAR, KEY_FILE, signature_path, signing_key
from datastore import DatasetStore
from datastore.model_cache import ModelCache
from generators import Generator, create_generator, load_saved_generator
from generators.sdv_tabular import MODEL_FILE

KEY = "0123456789abcdef"


@pytest.fixture(scope="module")
def copula(wine) -> Generator:
    return create_generator("gaussian_copula").fit(wine.iloc[:60], seed=0)


def test_save_signs_the_pickle_and_load_round_trips(copula, tmp_path):
    # Setup
    path = ModelCache(tmp_path).put(KEY, copula.save)

    # Run
    loaded = load_saved_generator(path)

    # Assert
    signature = json.loads(signature_path(path / MODEL_FILE).read_text())
    assert signature["key_id"] == signing_key().key_id
    pd.testing.assert_frame_equal(loaded.sample(20, seed=4), copula.sample(20, seed=4))


@pytest.mark.parametrize("signature", ["stale", "missing"])
def test_load_planted_pickle_in_model_cache_raises_and_runs_nothing(
    copula, tmp_path, plant_pickle, signature
):
    # Setup
    path = ModelCache(tmp_path).put(KEY, copula.save)
    marker = tmp_path / "marker"
    pickled = plant_pickle(path)
    if signature == "missing":
        signature_path(pickled).unlink()

    # Run / Assert
    with pytest.raises(UntrustedFileError, match="Refusing to load") as caught:
        load_saved_generator(path)
    assert str(pickled) in str(caught.value)
    assert f"delete {path}" in str(caught.value)
    assert not marker.exists()
    # The planted file is live: unpickling it would call its payload (REDUCE), yet it never ran.
    opcodes = {op.name for op, _, _ in pickletools.genops(pickled.read_bytes())}
    assert "REDUCE" in opcodes


def test_load_planted_pickle_in_published_model_dir_raises_and_runs_nothing(
    copula, tmp_path, plant_pickle
):
    # Setup: a published version whose model/ is the signed copula, then tampered with.
    cache = ModelCache(tmp_path / "store").put(KEY, copula.save)
    staged = DatasetStore(tmp_path / "store").begin("wine-signed")
    staged.write_part(0, copula.sample(10, seed=0))
    staged.copy_in(cache, "model")
    version = staged.commit(
        rows_expected=10,
        lineage={},
        report_json="{}",
        report_markdown="",
        passed=True,
        failed_checks=[],
    )
    marker = tmp_path / "marker"
    pickled = plant_pickle(version.path / "model")

    # Run / Assert
    with pytest.raises(UntrustedFileError, match="changed after it was signed") as caught:
        load_saved_generator(version.path / "model")
    assert str(pickled) in str(caught.value)
    assert not marker.exists()


def test_load_model_signed_by_another_installation_raises_until_its_key_is_copied(
    copula, tmp_path, monkeypatch
):
    # Setup: saved under another installation's key directory.
    theirs, ours = tmp_path / "theirs", tmp_path / "ours"
    monkeypatch.setenv(CONFIG_DIR_ENV_VAR, str(theirs))
    copula.save(tmp_path / "model")
    monkeypatch.setenv(CONFIG_DIR_ENV_VAR, str(ours))

    # Run / Assert
    with pytest.raises(UntrustedFileError, match="signed by another key"):
        load_saved_generator(tmp_path / "model")
    shutil.copy2(theirs / KEY_FILE, ours / KEY_FILE)
    assert load_saved_generator(tmp_path / "model").fitted
