"""Every `synth` command given bad input ends in one error line, never a traceback."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from datastore import DatasetStore
from datastore.staging import _release_staging_lock
from synthpipe.cli import app

runner = CliRunner()


def _publish(store: DatasetStore, dataset: str):
    staged = store.begin(dataset)
    staged.write_part(0, pd.DataFrame({"x": [1.0, 2.0, 3.0]}))
    return staged.commit(
        rows_expected=3,
        lineage={},
        report_json=json.dumps({"passed": True}),
        report_markdown="# Validation\nPASSED\n",
        passed=True,
        failed_checks=[],
    )


@pytest.fixture(scope="module")
def bad(tmp_path_factory) -> Path:
    """Bad inputs: missing and garbage files, a store with a garbage LATEST, a tampered
    version and a broken manifest, and a file where a store root should be."""
    root = tmp_path_factory.mktemp("bad")
    (root / "garbage.bin").write_bytes(b"\x00\xff\xfe\x89PNG garbage")
    (root / "a-file").write_text("not a store\n")
    store = DatasetStore(root / "store")
    _publish(store, "good")
    _publish(store, "latest-garbage")
    (store.root / "latest-garbage" / "LATEST").write_text("garbage\n")
    tampered = _publish(store, "tampered")
    (tampered.path / "validation.md").write_text("# Validation\nPASSED (forged)\n")
    broken = _publish(store, "broken-manifest")
    (broken.path / "manifest.json").write_text("{not json")
    return root


def _cases(bad: Path) -> dict[str, list[str]]:
    missing, garbage, store = str(bad / "missing.yaml"), str(bad / "garbage.bin"), bad / "store"
    at = ["--root", str(store)]
    return {
        "run missing job": ["run", missing],
        "run garbage job": ["run", garbage],
        "augment missing job": ["augment", missing],
        "augment garbage job": ["augment", garbage],
        "validate missing real": ["validate", "--real", missing, "--synthetic", missing],
        "validate garbage tables": ["validate", "--real", garbage, "--synthetic", garbage],
        "validate unknown version": ["validate", "--real", "nope@3", "--synthetic", garbage],
        "list garbage LATEST": ["datasets", "list", "latest-garbage", *at],
        "list broken manifest": ["datasets", "list", "broken-manifest", *at],
        "list invalid name": ["datasets", "list", "../../etc", *at],
        "list unknown dataset": ["datasets", "list", "nope", *at],
        "list root is a file": ["datasets", "list", "--root", str(bad / "a-file")],
        "show garbage LATEST": ["datasets", "show", "latest-garbage", *at],
        "show tampered report": ["datasets", "show", "tampered@1", *at],
        "show bad ref": ["datasets", "show", "good@x", *at],
        "show root is a file": ["datasets", "show", "good", "--root", str(bad / "a-file")],
        "clean root is a file": ["datasets", "clean", "--root", str(bad / "a-file")],
        "deploy missing job": ["deploy", missing],
        "deploy garbage job": ["deploy", garbage],
        "serve missing job": ["serve", missing],
        "serve garbage job": ["serve", garbage],
    }


CASES = list(_cases(Path("/placeholder")))


@pytest.mark.parametrize("case", CASES)
def test_bad_input_ends_in_one_error_line(bad, case):
    # Run
    result = runner.invoke(app, _cases(bad)[case])

    # Assert: a deliberate exit (not an exception escaping), the error alone on stderr
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize(
    "args", [["generators", "extra"], ["datasets", "clean", "--older-than-hours", "-1"]]
)
def test_bad_arguments_are_usage_errors(args):
    # Run
    result = runner.invoke(app, args)

    # Assert: click's own usage error, exit 2
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output


def test_list_shows_the_good_datasets_beside_a_damaged_one(bad):
    # Run
    result = runner.invoke(app, ["datasets", "list", "--root", str(bad / "store")])

    # Assert
    assert result.exit_code == 1
    assert "good@1\tpublished\t3 rows" in result.stdout
    assert "tampered@1\tpublished" in result.stdout
    errors = result.stderr.splitlines()
    assert [line.split(":")[0] for line in errors] == ["broken-manifest", "latest-garbage"]
    assert "LATEST should hold a version number but holds 'garbage'" in errors[1]


def test_show_refuses_a_tampered_report_naming_it(bad):
    # Run
    result = runner.invoke(app, ["datasets", "show", "tampered@1", "--root", str(bad / "store")])

    # Assert
    assert result.exit_code == 1
    assert "IntegrityError: tampered@1: " in result.stderr
    assert "validation.md has" in result.stderr and "PASSED (forged)" not in result.output


def _leftover(store: DatasetStore, hours_old: float) -> Path:
    staged = store.begin("wine")
    staged.write_part(0, pd.DataFrame({"x": [1.0]}))
    _release_staging_lock(staged.path)  # what the kernel does when the run is killed
    path = Path(staged.path)
    then = time.time() - hours_old * 3600
    for item in [path, *path.rglob("*")]:
        os.utime(item, (then, then))
    return path


def test_clean_is_a_dry_run_unless_yes_and_keeps_running_jobs(tmp_path):
    # Setup: two killed runs' leftovers and one job still writing
    store = DatasetStore(tmp_path)
    old, recent = _leftover(store, 30), _leftover(store, 2)
    running = store.begin("wine")
    at = ["--root", str(tmp_path)]

    # Run
    listed = runner.invoke(app, ["datasets", "list", *at])
    dry = runner.invoke(app, ["datasets", "clean", *at])
    aged = runner.invoke(app, ["datasets", "clean", "--older-than-hours", "24", "--yes", *at])
    after_aged = old.exists(), recent.exists()
    rest = runner.invoke(app, ["datasets", "clean", "--yes", *at])

    # Assert
    assert "2 leftover staging directories of interrupted runs" in listed.output
    assert "`synth datasets clean`" in listed.output
    assert dry.exit_code == 0 and "Dry run: 2 staging directories" in dry.output
    assert f"{old.name}\t30.0 h" in dry.output
    assert f"{Path(running.path).name}\t0.0 h" in dry.output and "in use" in dry.output
    assert aged.exit_code == 0 and "Removed 1 staging directory" in aged.output
    assert after_aged == (False, True)
    assert "Removed 1 staging directory" in rest.output and not recent.exists()
    assert Path(running.path).is_dir()  # never touched, even with no age limit
    running.abort()


def test_an_unreadable_folder_under_the_root_is_one_line(tmp_path, monkeypatch):
    # Setup: what `datasets list --root ../../etc` meets as a non-root user (tests run as root,
    # which may read everything, so the OS refusal is simulated)
    def refuse(self):
        raise PermissionError(13, "Permission denied", "/etc/ssl/private")

    monkeypatch.setattr(DatasetStore, "list_datasets", refuse)

    # Run
    result = runner.invoke(app, ["datasets", "list", "--root", str(tmp_path)])

    # Assert
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.stderr == "PermissionError: [Errno 13] Permission denied: '/etc/ssl/private'\n"
