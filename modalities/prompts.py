"""A text-to-image job's `prompts:`: what each label's images are captioned with when the model
learns them, and what the version draws.

```yaml
prompts: "a handwritten digit {label}"       # one template for every label
prompts: {"0": "a digit zero", "7": "a seven"}  # per label; only these labels are drawn
prompts: {template: "a photo of a {label}"}  # the long form of the first
prompts: {labels: {"0": "a zero", "7": "a seven"}, rows_per_prompt: 50}
prompts: {captions_column: caption}          # each image's own caption, from an image Parquet
```
`{label}` is replaced by the label's name. The version's `rows` are spread evenly over the
prompts (one per prompted label, in label order; with captions, the distinct training captions
by label, then caption), so counts differ by at most one; with a template, `rows_per_prompt`
gives every prompt exactly that many, and `rows` must say the total.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.errors import DataError
from core.images import balanced_labels

PLACEHOLDER = "label"
Pairs = Sequence[tuple[str, str]]


class PromptsConfig(BaseModel):
    """One prompt template for every label, or one per label (exactly one of the two)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    template: str | None = Field(
        None, description='a template for every label, e.g. "a photo of a {label}"'
    )
    labels: dict[str, str] | None = Field(
        None, description="label -> its prompt template; only these labels are drawn"
    )
    captions_column: str | None = Field(
        None,
        description="a text column of the image Parquet source holding each image's caption; "
        "the version draws the training captions",
    )
    rows_per_prompt: int | None = Field(
        None, ge=1, description="images per prompt; the job's rows must be this × the prompts"
    )

    @model_validator(mode="before")
    @classmethod
    def _short_forms(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"template": data}
        if not isinstance(data, dict):
            return data
        # YAML keys such as 3 (a digit label) arrive as ints.
        if not set(data) & set(cls.model_fields):
            return {"labels": {str(k): v for k, v in data.items()}}
        if isinstance(data.get("labels"), dict):
            return {**data, "labels": {str(k): v for k, v in data["labels"].items()}}
        return data

    @model_validator(mode="after")
    def _one_form_of_valid_templates(self) -> PromptsConfig:
        if self.captions_column is not None and self.rows_per_prompt is not None:
            raise ValueError(
                "rows_per_prompt applies to prompt templates; with captions_column the rows "
                "are spread evenly over the training captions"
            )
        forms = [self.template, self.labels, self.captions_column]
        if sum(form is not None for form in forms) != 1:
            raise ValueError(
                'give prompts as one template ("a photo of a {label}"), a mapping label -> '
                "template, or a captions_column of the source: exactly one, not both or neither"
            )
        for template in self.templates():
            fields = _placeholders(template)
            if fields - {PLACEHOLDER}:
                raise ValueError(
                    f"prompt template {template!r} uses {sorted(fields - {PLACEHOLDER})}; the "
                    "only placeholder is {label} (write a literal brace as {{ or }})"
                )
            if not template.format(label="x").strip():
                raise ValueError(f"prompt template {template!r} is empty")
        return self

    def templates(self) -> list[str]:
        if self.captions_column is not None:
            return []
        return [self.template] if self.template is not None else list(self.labels.values())

    def classes(self, label_names: Sequence[str]) -> list[str]:
        """The labels drawn, in the real label order; a mapping naming an unknown label fails."""
        names = [str(name) for name in label_names]
        if self.labels is None:
            return names
        unknown = sorted(set(self.labels) - set(names))
        if unknown:
            raise DataError(f"prompts name label(s) {unknown} the source lacks; labels: {names}.")
        return [name for name in names if name in self.labels]

    def prompt(self, label: str) -> str:
        assert self.captions_column is None  # captions are the images' own, not a template's
        template = self.template if self.labels is None else self.labels[label]
        return template.format(label=label)

    def pairs(self, label_names: Sequence[str], learned: Pairs | None = None) -> Pairs:
        """The (prompt, label) pairs a version draws: one per prompted label in label order, or
        with captions the distinct (caption, label) pairs `learned` (a fitted model's, or the
        training images' `ImageData.prompt_pairs()`)."""
        if self.captions_column is None:
            return [(self.prompt(label), label) for label in self.classes(label_names)]
        if not learned:
            raise DataError(
                f"prompts.captions_column {self.captions_column!r} draws the captions the model "
                "learned, and it has none: fit it on the captioned source first."
            )
        return [(str(prompt), str(label)) for prompt, label in learned]

    def check_rows(self, prompts: int, rows: int) -> None:
        """A job's `rows` against `rows_per_prompt`, once the number of prompts is known."""
        if self.rows_per_prompt is None:
            return
        total = self.rows_per_prompt * prompts
        if rows != total:
            raise DataError(
                f"rows_per_prompt {self.rows_per_prompt} × {prompts} prompts is {total} "
                f"images, but the job asks for rows: {rows}; set rows: {total} (or drop "
                "rows_per_prompt to spread rows evenly)."
            )

    def plan(self, pairs: Pairs, rows: int) -> pd.DataFrame:
        """The conditions of a whole version: `rows` (prompt, label) rows cycling through
        `pairs` (exactly `rows_per_prompt` each when set)."""
        self.check_rows(len(pairs), rows)
        index = balanced_labels(rows, [str(i) for i in range(len(pairs))])["label"].astype(int)
        return pd.DataFrame(
            {"prompt": [pairs[i][0] for i in index], "label": [pairs[i][1] for i in index]}
        )

    def counts(self, pairs: Pairs, rows: int) -> dict[str, int]:
        """Images planned per prompt."""
        return self.plan(pairs, rows)["prompt"].value_counts(sort=False).to_dict()


def _placeholders(template: str) -> set[str]:
    try:
        return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}
    except ValueError as exc:
        raise ValueError(f"prompt template {template!r} is not a valid template: {exc}") from None
