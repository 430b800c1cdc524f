"""Gate thresholds for validating a synthetic table against its real source.

A job's `validation:` block is parsed into `Thresholds`; an unknown key is an error that names it.

| field                     | default | meaning |
|---------------------------|---------|---------|
| `quality_min`             | 0.70    | min SDMetrics quality score (mean of the two below) |
| `column_shapes_min`       | 0.70    | min Column Shapes score (per-column KS / TV complement) |
| `column_pair_trends_min`  | 0.60    | min Column Pair Trends (correlation / contingency) |
| `pair_trends_retained_min`| 0.50    | min share of the real association kept (holdout; below) |
| `validity_min`            | 0.95    | min Data Validity (values in real ranges / categories) |
| `structure_min`           | 1.0     | min Data Structure (same column names as real) |
| `expectations_must_pass`  | true    | the GX suite derived from the real data is a gate |
| `range_tolerance`         | 0.05    | numeric min/max widened by this fraction of the real range |
| `range_outside_max`       | 0.10    | share of a column's values allowed outside that range |
| `null_fraction_tolerance` | 0.05    | allowed null fraction above the real column's |
| `constraint_violations_max`| 0      | synthetic rows allowed to break a declared constraint |
| `max_rows_for_metrics`    | 20,000  | SDMetrics scores a seeded sample of at most this many rows |
| `detection_auc_max`       | 0.90    | max C2ST ROC AUC (0.5 = indistinguishable) |
| `detection_must_pass`     | false   | C2ST advisory: example jobs score 0.92-0.999 |
| `detection_auc_min`       | 0.20    | gate: min C2ST ROC AUC (far below 0.5 = copied rows) |
| `max_rows_for_detection`  | 10,000  | C2ST rows per side (seeded subsample) |
| `utility_ratio_min`       | 0.70    | min TSTR / TRTR ratio (job with a `target`) |
| `utility_must_pass`       | true    | the utility ratio is a gate |
| `dcr_share_max`           | 0.70    | max DCR share closer to train (0.5 = none) |
| `exact_copy_margin`       | 0.05    | exact-copy rate <= holdout's own + this |
| `nndr_margin`             | 0.20    | advisory: NNDR median >= holdout's - this |
| `privacy_must_pass`       | true    | DCR share and exact-copy rate are gates |
| `max_rows_for_privacy`    | 5,000   | DCR rows per set (synthetic, train, holdout; seeded) |
| `drop`                    | none    | checks left out, by name (`CheckSelection`, below) |
| `add`                     | none    | advisory checks with a threshold made gates, by name |
| `checks`                  | none    | thresholds by check name (`CheckSelection`, below) |

Expectations always run on every synthetic row; the other scores use seeded subsamples whose
sizes the report records. Detection, utility and privacy need real rows the generator never saw:
privacy and the detection baseline run when a holdout exists (jobs: `source.holdout_fraction`,
default 0.2 for tables), utility when a `target` column is named too. The exact-copy and NNDR
thresholds are relative to the real-vs-real reference (holdout rows against training rows),
because tables such as `fair` hold many naturally duplicated rows. So is
`pair_trends_retained_min`: `quality.pair_trends_retained` places the synthetic Column Pair Trends
score between the score of the real rows with every column shuffled independently (0: no
association kept) and the holdout's score (1: as much as unseen real rows), so independently
shuffled columns fail on tables whose fixed pair-trends score they clear. Every default is
calibrated in `validators/baselines.py` / `benchmarks/gates.py` (README: "What the gates promise").

Both models select checks of their suite by name (`CheckSelection`): `drop` and `add` name checks
(`validators.check`), and `checks` sets a check's thresholds under the keys it declares, as another
spelling of the fields above: `checks: {privacy.dcr_share: {max: 0.65}}` is `dcr_share_max: 0.65`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from validators.report import Kind

if TYPE_CHECKING:
    from validators.check import Check, Suite

SCORE_FIELDS = (
    "quality_min",
    "column_shapes_min",
    "column_pair_trends_min",
    "pair_trends_retained_min",
    "validity_min",
    "structure_min",
    "null_fraction_tolerance",
    "range_outside_max",
    "detection_auc_max",
    "detection_auc_min",
    "dcr_share_max",
    "exact_copy_margin",
    "nndr_margin",
)


class CheckSelection(BaseModel):
    """Which checks of the modality's suite run and gate, by check name. Unknown names, and keys a
    check does not declare, are errors naming the allowed ones."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: ClassVar[Kind]

    drop: tuple[str, ...] = Field(
        (),
        description="Checks left out of the report, by name; a measure runs only for the checks "
        "kept (dropping every privacy.* check skips DCR). Default none.",
    )
    add: tuple[str, ...] = Field(
        (),
        description="Advisory checks made gates, by name; only checks with a threshold (e.g. "
        "detection.c2st_auc, privacy.nndr), not measurements such as columns.summary. Default "
        "none.",
    )
    checks: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        exclude=True,  # always empty once validated: the fields it names hold its values
        description="Thresholds by check name, {check: {key: value}} with the keys each check "
        "declares (validators.check.Threshold), read into the fields they name: "
        "privacy.dcr_share: {max: 0.65} sets dcr_share_max. Default none.",
    )

    @classmethod
    def suite(cls) -> Suite[Any, Any, Any]:
        """The suite of checks these thresholds select from."""
        from validators.suites import SUITES  # the suites import the models of this module

        return SUITES[cls.kind]

    @model_validator(mode="before")
    @classmethod
    def _thresholds_by_name(cls, data: Any) -> Any:
        """`checks: {<check>: {<key>: value}}` as the fields the checks' keys name."""
        if not isinstance(data, dict) or not data.get("checks"):
            return data
        flat = dict(data)
        by_name = flat.pop("checks")
        if not isinstance(by_name, dict) or not all(isinstance(v, dict) for v in by_name.values()):
            raise ValueError(
                "checks maps check names to their thresholds, e.g. "
                f"checks: {{privacy.dcr_share: {{max: 0.65}}}}; got {by_name!r}"
            )
        for name, values in by_name.items():
            check = _named_check(cls.suite(), "checks", name)
            for key, value in values.items():
                field = _field_of(cls.suite(), check, key)
                if field in data and data[field] != value:
                    raise ValueError(
                        f"checks.{name}.{key} ({value!r}) and {field} ({data[field]!r}) set the "
                        "same threshold; keep one"
                    )
                flat[field] = value
        return flat

    @model_validator(mode="after")
    def _known_checks(self) -> CheckSelection:
        if not (self.drop or self.add):
            return self
        suite = self.suite()
        for where, names in (("drop", self.drop), ("add", self.add)):
            for name in names:
                _named_check(suite, where, name)
        both = sorted(set(self.drop) & set(self.add))
        if both:
            raise ValueError(f"checks {both} are in both drop and add; keep each in one")
        unthresholded = [name for name in self.add if not suite.check(name).thresholds]
        if unthresholded:
            addable = [check.name for check in suite.checks if check.thresholds]
            raise ValueError(
                f"add: {unthresholded} have no threshold to gate on (measurements); checks "
                f"with one: {', '.join(addable)}"
            )
        return self

    @model_serializer(mode="wrap")
    def _without_empty_selection(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Reports and lineage of a job selecting no checks keep exactly their former keys.
        dumped = handler(self)
        for name in ("drop", "add"):
            if not dumped.get(name):
                dumped.pop(name, None)
        return dumped


class TableGates(BaseModel):
    """The table gates' thresholds (see the module docstring for the table)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    quality_min: float = Field(
        0.70, description="Minimum SDMetrics overall quality score, in [0, 1]. Default 0.70."
    )
    column_shapes_min: float = Field(
        0.70, description="Minimum SDMetrics Column Shapes score, in [0, 1]. Default 0.70."
    )
    column_pair_trends_min: float = Field(
        0.60, description="Minimum SDMetrics Column Pair Trends score, in [0, 1]. Default 0.60."
    )
    pair_trends_retained_min: float = Field(
        0.50,
        description="Minimum share of the real association the synthetic Column Pair Trends "
        "score keeps: 0 = no more than independently shuffled real columns, 1 = as much as the "
        "real holdout rows; in [0, 1], checked when there is a holdout. Default 0.50.",
    )
    validity_min: float = Field(
        0.95,
        description="Minimum SDMetrics diagnostic Data Validity score, in [0, 1]. Default 0.95.",
    )
    structure_min: float = Field(
        1.0,
        description="Minimum SDMetrics diagnostic Data Structure score, in [0, 1]. Default 1.0.",
    )
    expectations_must_pass: bool = Field(
        True,
        description="Whether every expectation of the suite derived from the real data must pass "
        "for the report to pass; false keeps them as advisory checks. Default true.",
    )
    range_tolerance: float = Field(
        0.05,
        ge=0,
        description="Numeric min/max expectations are widened on each side by this fraction of "
        "the real column's range (max - min); >= 0. Default 0.05.",
    )
    range_outside_max: float = Field(
        0.10,
        description="Share of a numeric column's synthetic values that may fall outside the "
        "widened real range, in [0, 1]. Default 0.10: unseen real rows fall outside the range "
        "of the training rows too, most on small tables (35 unseen wine rows against 107 "
        "training rows: at most 11% in a column in 29 of 30 seeded splits, 17% in the other).",
    )
    null_fraction_tolerance: float = Field(
        0.05,
        description="A synthetic column may have up to this much more null fraction than the real "
        "column, in [0, 1]. Default 0.05.",
    )
    constraint_violations_max: int = Field(
        0,
        ge=0,
        description="Synthetic rows that may break a constraint the job declares "
        "(`constraints:`), counted on every row; checked only when there are constraints. "
        "Default 0: generators hold them by construction or re-draw.",
    )
    max_rows_for_metrics: int = Field(
        20_000,
        ge=1,
        description="SDMetrics reports run on a seeded subsample of at most this many synthetic "
        "rows and real rows; the report records the evaluated size. Default 20000.",
    )

    detection_auc_max: float = Field(
        0.90,
        description="Maximum cross-validated C2ST ROC AUC of a classifier telling synthetic from "
        "real rows, in [0, 1]; 0.5 = indistinguishable. Default 0.90.",
    )
    detection_must_pass: bool = Field(
        False,
        description="Whether the C2ST check is a gate. Default false (advisory): every example "
        "job measures AUC 0.92-0.999 (e.g. gaussian_copula on fair, which loses the "
        "associations between its coded columns), so a useful threshold would quarantine them.",
    )
    detection_auc_min: float = Field(
        0.20,
        description="Minimum C2ST ROC AUC, in [0, 1]; always a gate. Copies of the real rows "
        "score far below 0.5 (each copy's twin sits in another fold with the opposite label: "
        "0.02-0.09 measured), unseen real rows 0.31-0.68 (wine, 35 rows per side, 20 splits). "
        "Default 0.20.",
    )
    max_rows_for_detection: int = Field(
        10_000, ge=10, description="C2ST rows per side (seeded subsample). Default 10000."
    )
    utility_ratio_min: float = Field(
        0.70,
        ge=0,
        description="Minimum TSTR / TRTR ratio of the primary score (ROC AUC, accuracy or R²) "
        "on the real holdout; checked only when the job names a target. Default 0.70.",
    )
    utility_must_pass: bool = Field(True, description="Whether utility is a gate. Default true.")
    dcr_share_max: float = Field(
        0.70,
        description="Maximum size-balanced share of synthetic rows closer to a training row than "
        "to a holdout row, in [0, 1]; 0.5 = no closer than to unseen rows. Default 0.70: the "
        "example jobs measure 0.54-0.61 (a generator learns its density from the training rows, "
        "more visibly on small tables), copies of the training rows 0.92-1.0.",
    )
    exact_copy_margin: float = Field(
        0.05,
        description="The share of synthetic rows equal to a training row may exceed the holdout "
        "rows' own share by at most this, in [0, 1]. Default 0.05.",
    )
    nndr_margin: float = Field(
        0.20,
        description="Advisory: the median nearest-neighbour distance ratio of synthetic rows may "
        "fall at most this far below the holdout rows', in [0, 1]. Default 0.20.",
    )
    privacy_must_pass: bool = Field(
        True, description="Whether DCR share and exact-copy rate are gates. Default true."
    )
    max_rows_for_privacy: int = Field(
        5_000,
        ge=2,
        description="DCR uses at most this many synthetic, training and holdout rows each "
        "(seeded). Default 5000.",
    )

    @field_validator(*SCORE_FIELDS)
    @classmethod
    def _in_unit_interval(cls, value: float, info: ValidationInfo) -> float:
        if not 0.0 <= value <= 1.0:
            raise ValueError(
                f"{info.field_name} is a score or fraction in [0, 1], got {value}; "
                f"e.g. {info.field_name}: {cls.model_fields[info.field_name].default}"
            )
        return value


def _named_check(suite: Suite[Any, Any, Any], where: str, name: str) -> Check[Any, Any, Any]:
    """The suite's check `name`, named by `where` (drop, add, checks) in a job."""
    try:
        return suite.check(name)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _field_of(suite: Suite[Any, Any, Any], check: Check[Any, Any, Any], key: str) -> str:
    """The field `checks.<check>.<key>` sets; only a field no other check reads, so setting one
    check's threshold by name never moves another's."""
    where = f"checks.{check.name}.{key}"
    try:
        field = check.threshold(key).field
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    sharing = [
        other.name
        for other in suite.checks
        if other is not check and field in {t.field for t in other.thresholds}
    ]
    if sharing:
        raise ValueError(
            f"{where} is {field}, which {sharing} use too; set {field} for all of them"
        )
    return field


# CheckSelection first among the bases puts its fields last, so errors naming the allowed keys of
# a job's `validation:` block list the gates first.
class Thresholds(CheckSelection, TableGates):
    """Pass/fail thresholds of a table's checks and the checks selected by name."""

    kind: ClassVar[Kind] = "table"


class LocalFeatureExtractor(BaseModel):
    """`validation.feature_extractor`: local weights whose features the fidelity checks use in
    place of the in-project CNN's (`validators.image_clip`); nothing is downloaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(
        description="A local folder holding a transformers CLIPVisionModel (or CLIPModel) saved "
        "with save_pretrained: config.json and model.safetensors or pytorch_model.bin."
    )


class ImageGates(BaseModel):
    """Pass/fail thresholds of an image dataset's gates: the one place their defaults live. A job's
    `validation:` block (or `synth validate --thresholds`) overrides any of them; an unknown key
    is an error naming it. Checks are listed in `validators.images` / `validators.image_quality`.

    | field                   | default | gate |
    |-------------------------|---------|------|
    | `pixel_mean_tolerance`  | 0.05    | mean pixel value (on [0, 1]) within real's mean +/- this |
    | `pixel_std_tolerance`   | 0.05    | mean per-image pixel std within real's +/- this |
    | `blank_std_max`         | 0.01    | an image with pixel std <= this is blank (fails) |
    | `expectations_must_pass`| true    | whether the GX suite on per-image metadata is a gate |
    | `fd_floor_ratio_max`    | 2.0     | FD to the real holdout <= this x its half-split floor |
    | `precision_ratio_min`   | 0.7     | k-NN precision (vs holdout) >= this x the real floor's |
    | `recall_ratio_min`      | 0.7     | k-NN recall (vs holdout) >= this x the real floor's |
    | `cas_ratio_min`         | 0.8     | CAS accuracy >= this x the real-trained classifier's |
    | `cas_class_ratio_min`   | 0.5     | per class, CAS accuracy >= this x the real-trained one's |
    | `memorised_share_max`   | 0.05    | share nearer a training image than 99% of holdout images |
    | `exact_copies_max`      | 0       | synthetic images identical to a training image |
    | `max_images`            | 2,000   | seeded subsample cap per image set (not a gate) |
    | `subsets`               | 5       | seeded subsets the train-based figures average |
    | `subset_fraction`       | 0.8     | a subset holds this share of the holdout |
    | `holdout_splits`        | 10      | seeded holdout half-splits the gates average |
    | `extractor_steps`       | 500     | Adam steps training the CNN extractor and CAS classifier |
    | `feature_extractor`     | none    | `{path: <dir>}`: fidelity on local CLIP features |

    The quality gates need a real holdout (a job's default 20%); without one they are skipped.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    pixel_mean_tolerance: float = Field(0.05, ge=0, le=1)
    pixel_std_tolerance: float = Field(0.05, ge=0, le=1)
    blank_std_max: float = Field(0.01, ge=0, le=1)
    expectations_must_pass: bool = True
    fd_floor_ratio_max: float = Field(2.0, gt=0)
    precision_ratio_min: float = Field(0.7, ge=0)
    recall_ratio_min: float = Field(0.7, ge=0)
    cas_ratio_min: float = Field(0.8, ge=0)
    cas_class_ratio_min: float = Field(0.5, ge=0)
    memorised_share_max: float = Field(0.05, ge=0, le=1)
    exact_copies_max: int = Field(0, ge=0)
    max_images: int = Field(2_000, gt=5, description="More than PRDC's k = 5.")
    subsets: int = Field(5, ge=1)
    subset_fraction: float = Field(0.8, gt=0, le=1)
    holdout_splits: int = Field(10, ge=1)
    extractor_steps: int = Field(500, ge=1)
    feature_extractor: LocalFeatureExtractor | None = None


class ImageThresholds(CheckSelection, ImageGates):
    """Pass/fail thresholds of an image dataset's checks and the checks selected by name."""

    kind: ClassVar[Kind] = "image"


class PromptedImageThresholds(ImageThresholds):
    """The image thresholds for images drawn for text prompts (the `prompted_image` kind: the
    image suite, with per-prompt counts in its expectations)."""

    kind: ClassVar[Kind] = "prompted_image"


class SequenceThresholds(Thresholds):
    """A sequential table's thresholds: the table checks on its rows (the table suite) plus the
    gates of `validators.sequences` on whole sequences."""

    kind: ClassVar[Kind] = "sequence"

    sequence_length_ks_max: float = Field(
        0.5, ge=0, le=1, description="sequence.length_ks: largest KS statistic of the lengths"
    )
    sequence_lag1_error_max: float = Field(
        0.5,
        ge=0,
        le=2,
        description="sequence.lag1_autocorr_error: largest |real - synthetic| mean lag-1 "
        "autocorrelation of a numeric column",
    )
