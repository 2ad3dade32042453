"""`AugmentConfig`: the parameters of the attention augmentation, validated once.

Each field declares its default, help text and allowed values in its metadata (`help`; `ge`,
`gt`, `le`, `lt` bounds, `odd`; `choices`: a table of names, `ROI_MODES`, `INPAINTERS`, or the
controls' `DONORS` and `BACKGROUNDS`).
`AugmentConfig` checks itself from them (`kernels.fields`, the one interpreter of this metadata),
and config schemas built on it (the trainer's `augment` section) read them instead of
repeating them.
"""
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from .controls import BACKGROUNDS, DONORS, backend_problem
from .fields import accepts, allowed
from .tables import INPAINTERS, ROI_MODES


def _option(default, help: str, **checks):
    """A field of `AugmentConfig` with its help text and allowed values (see the module doc)."""
    return field(default=default, metadata={"help": help, **checks})


@dataclass(frozen=True)
class AugmentConfig:
    """Parameters of `AttentionAugment` (each field's help text is in its metadata). Invalid
    values raise `ValueError` naming the field, the value and what is allowed."""

    p: float = _option(0.5, "probability of swapping a sample's background", ge=0, le=1)
    roi: str = _option("full", "region kept from the sample: the person mask or a band of its bounding box",
                       choices=ROI_MODES)
    split: float = _option(0.5, "upper body = top `split` of the mask's bounding box", gt=0, lt=1)
    min_area_ratio: float = _option(0.8, "candidates need min(A_i, A_j) / max(A_i, A_j) of ROI areas >= this",
                                    ge=0, le=1)
    min_iou: float = _option(0.5, "candidates need the IoU of the normalized ROI masks >= this", ge=0, le=1)
    same_viewpoint: bool = _option(True, "donor must share the viewpoint when both are known (>= 0)")
    dilate: int = _option(31, "square dilation of the donor's mask (odd; 31 = the paper's 7x7 x 5)", ge=1, odd=True)
    inpaint: str = _option("pullpush", "fill of the donor's hole (INPAINTERS: the backends each runs on)",
                           choices=INPAINTERS)
    bank_size: int = _option(0, "donor bank of earlier samples (0 = current batch only)", ge=0)
    donor: str = _option("other", "whose image lends its background: another identity's (the paper) or, a control, "
                         "the same identity's (DONORS: the backends each runs on)", choices=DONORS)
    background: str = _option("donor", "the new background: the donor's, inpainted (the paper) or, controls, a "
                              "picture from background_dir or noise (BACKGROUNDS: the backends each runs on)",
                              choices=BACKGROUNDS)
    background_dir: str = _option("", "folder of background pictures (one size) for background: images")
    seed: int = _option(0, "seed of the counter-based RNG (draws depend on seed, epoch, sample index)")

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not accepts(f.type, f.metadata, value):
                raise ValueError(f"AugmentConfig.{f.name}={value!r}: expected {allowed(f.type, f.metadata)}")
        if (self.background == "images") != bool(self.background_dir):
            raise ValueError(f"AugmentConfig.background_dir={self.background_dir!r}: expected a folder of pictures "
                             f"with background='images' and '' otherwise (background={self.background!r})")
        if self.donor != "other" and self.background != "donor":
            raise ValueError(f"AugmentConfig.donor={self.donor!r}: expected 'other' with background="
                             f"{self.background!r}, which takes no donor")

    @classmethod
    def from_mapping(cls, values: Mapping) -> "AugmentConfig":
        """An `AugmentConfig` from a plain mapping of field names to values (parsed YAML); an
        unknown key raises `ValueError` naming it, with a did-you-mean and the fields allowed.

        >>> AugmentConfig.from_mapping({"roi": "uper"})
        Traceback (most recent call last):
        ...
        ValueError: AugmentConfig.roi='uper': expected one of ['full', 'upper', 'lower']
        """
        if not isinstance(values, Mapping):
            raise ValueError(f"AugmentConfig: expected a mapping of its fields, got {values!r}")
        names = [f.name for f in fields(cls)]
        for key in values:
            if key not in names:
                near = difflib.get_close_matches(str(key), names, n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                raise ValueError(f"AugmentConfig.{key}: unknown field{hint}; allowed: {', '.join(names)}")
        return cls(**values)


def backend_problems(config: AugmentConfig, backend: str) -> list[str]:
    """Why `config` cannot run on array backend `backend` ("numpy" or "cupy"): one line per
    table-driven field whose choice does not run there, e.g. "donor='same' runs on the numpy
    backend only; on cupy use 'other'"; [] when it can."""
    problems = []
    for f in fields(config):
        table = f.metadata.get("choices")
        value = getattr(config, f.name)
        if table is not None and hasattr(table[value], "backends"):
            problem = backend_problem(table, value, backend)
            if problem:
                problems.append(f"{f.name}={problem}")
    return problems
