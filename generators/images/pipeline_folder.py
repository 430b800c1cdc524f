"""A user's diffusers pipeline folder, checked before any weight is read.

`PipelineFolder.open(path, cache_dir)` takes a local folder or an fsspec URL (`file://`,
`memory://`, `s3://`, ...); a remote folder is first copied into `cache_dir` (and copied again
only when its listing changes). `check_text2image()` then reads only JSON: `model_index.json`
names a stock diffusers text-to-image pipeline whose components are diffusers or transformers
classes, every model component has safetensors weights (a pickled `.bin` is refused, never
loaded), and a UNet's input and cross-attention widths match the autoencoder's latents and the
text encoders. Each problem is a typed error naming the file and the fix.

`fingerprint()` is a sha256 over every file's path and contents: a fitted generator records it and
refuses a base folder that changed since (`core.errors.IntegrityError`).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ConfigError, DataError

MODEL_INDEX = "model_index.json"
LIBRARIES = ("diffusers", "transformers")
# Pickled weight formats: loading one runs arbitrary code, so they are named and refused.
PICKLED_SUFFIXES = (".bin", ".ckpt", ".pt", ".pth", ".pkl")
# Call parameters of pipelines that need an input image, so no prompt alone can drive them.
IMAGE_INPUTS = ("image", "mask_image", "control_image")
SOURCE_MANIFEST = ".synthpipe-source.json"  # a cached copy's remote listing
CONVERT_HINT = (
    "convert it once, where you trust the file: `DiffusionPipeline.from_pretrained(folder, "
    "use_safetensors=False).save_pretrained(folder, safe_serialization=True)`"
)


def is_remote(path: str) -> bool:
    """Whether `path` is an fsspec URL other than a local `file://` one."""
    return "://" in path and not path.startswith("file://")


def local_path(path: str) -> Path:
    return Path(path.removeprefix("file://")).expanduser()


@dataclass(frozen=True)
class PipelineFolder:
    """A diffusers pipeline folder on local disk (`root`), and where it came from (`source`)."""

    source: str
    root: Path

    @classmethod
    def open(cls, path: str, cache_dir: Path) -> PipelineFolder:
        if not is_remote(path):
            root = local_path(path)
            if not root.is_dir():
                raise DataError(
                    f"Pipeline folder {root} does not exist; set `path` to a folder written by "
                    "a diffusers pipeline's save_pretrained (or an fsspec URL of one)."
                )
            return cls(path, root)
        return cls(path, _cached_copy(path, cache_dir))

    # ---- what model_index.json says -------------------------------------------------------------
    @property
    def index_path(self) -> Path:
        return self.root / MODEL_INDEX

    def index(self) -> dict[str, Any]:
        if not self.index_path.is_file():
            raise DataError(
                f"{self.index_path} does not exist: {self.source} is not a diffusers pipeline "
                "folder. Point `path` at the folder that holds model_index.json (the one "
                "`pipe.save_pretrained(folder)` writes), not at a component or a single "
                ".safetensors/.ckpt file."
            )
        try:
            return json.loads(self.index_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{self.index_path} is not valid JSON ({exc}); rewrite it.") from None

    def components(self) -> dict[str, tuple[str, str]]:
        """Component name -> (library, class) for every component the index fills."""
        found = {}
        for name, entry in self.index().items():
            if name.startswith("_") or not isinstance(entry, list) or len(entry) != 2:
                continue  # `_class_name`, `_diffusers_version`, flags such as force_zeros
            if entry[0] is None or entry[1] is None:
                continue  # an optional component left out (safety_checker: [null, null])
            found[name] = (str(entry[0]), str(entry[1]))
        return found

    def pipeline_class(self) -> type:
        """The stock diffusers class `_class_name` names; custom pipeline code is refused."""
        import diffusers

        name = self.index().get("_class_name")
        if not isinstance(name, str):
            raise ConfigError(
                f"{self.index_path} names custom pipeline code ({name!r}); Synthpipe never runs "
                "code from a model folder. Use a stock diffusers pipeline class (e.g. "
                "StableDiffusionPipeline) in `_class_name`."
            )
        klass = getattr(diffusers, name, None)
        if not isinstance(klass, type):
            raise ConfigError(
                f"{self.index_path} names pipeline class {name!r}, which diffusers "
                f"{diffusers.__version__} does not have; upgrade diffusers or re-save the folder "
                "with a stock pipeline class."
            )
        return klass

    # ---- checks before loading ------------------------------------------------------------------
    def check_text2image(self) -> type:
        """Check the folder holds a loadable text-to-image pipeline; return its class."""
        klass = self.pipeline_class()
        parameters = inspect.signature(klass.__call__).parameters
        needs_image = [p for p in IMAGE_INPUTS if p in parameters]
        if "prompt" not in parameters or needs_image:
            why = f"needs an input {needs_image[0]!r}" if needs_image else "takes no prompt"
            raise ConfigError(
                f"{self.index_path} names {klass.__name__}, which {why}: it is not a "
                "text-to-image pipeline. `pipeline: text2image` needs one that draws images from "
                "prompts alone (StableDiffusionPipeline, StableDiffusionXLPipeline, ...); "
                "img2img, inpaint and upscale pipelines are not supported yet."
            )
        for name, (library, class_name) in self.components().items():
            self._check_component(name, library, class_name)
        self._check_widths()
        return klass

    def _check_component(self, name: str, library: str, class_name: str) -> None:
        if library not in LIBRARIES:
            raise ConfigError(
                f"{self.index_path}: component {name!r} is {library}.{class_name}; only "
                f"{' and '.join(LIBRARIES)} classes load (Synthpipe never runs code from a model "
                "folder). Replace it with a stock class."
            )
        folder = self.root / name
        if not folder.is_dir():
            raise DataError(
                f"{folder} does not exist, but {MODEL_INDEX} lists component {name!r}; copy "
                f"the whole pipeline folder, or set {name!r} to [null, null] if it is optional."
            )
        if not (folder / "config.json").is_file():
            return  # schedulers, tokenizers and processors hold configs and vocabularies only
        if any(folder.glob("*.safetensors")):
            return
        pickled = sorted(p for p in folder.iterdir() if p.suffix in PICKLED_SUFFIXES)
        if pickled:
            raise DataError(
                f"{pickled[0]} is a pickled weight file, which Synthpipe never loads (loading "
                f"one can run code); it needs {name}'s weights as .safetensors: {CONVERT_HINT}."
            )
        raise DataError(
            f"{folder} holds no weights (.safetensors); copy the component's weights with it."
        )

    def _check_widths(self) -> None:
        """A UNet must take the autoencoder's latents and attend to the text encoders' width.
        Transformer denoisers are left to diffusers: some pack latents (Flux: 2x2 patches)."""
        components = self.components()
        if "unet" not in components or "vae" not in components:
            return
        config = self.component_config("unet")
        latents = self.component_config("vae").get("latent_channels")
        channels = config.get("in_channels")
        if latents is not None and channels is not None and channels != latents:
            raise DataError(
                f"{self.root / 'unet' / 'config.json'} has in_channels={channels}, but "
                f"{self.root / 'vae' / 'config.json'} makes latent_channels={latents}: the "
                "components come from different models. Use the vae and UNet saved together."
            )
        encoders = sorted(n for n in components if n.startswith("text_encoder"))
        widths = [self.component_config(n).get("hidden_size") for n in encoders]
        attends = config.get("cross_attention_dim")
        if widths and None not in widths and attends != sum(widths):
            raise DataError(
                f"{self.root / 'unet' / 'config.json'} has cross_attention_dim={attends}, but "
                f"the text encoder(s) {encoders} give hidden states of width {sum(widths)}: the "
                "components come from different models. Use the text encoder saved with the UNet."
            )

    def component_config(self, name: str) -> dict[str, Any]:
        path = self.root / name / "config.json"
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"Cannot read {path} ({exc}); re-save the pipeline folder.") from None

    def native_size(self) -> tuple[int, int]:
        """(side, channels) of the images the pipeline draws by default, from its configs."""
        components = self.components()
        denoiser = next((n for n in ("unet", "transformer") if n in components), None)
        sample = self.component_config(denoiser).get("sample_size") if denoiser else None
        if isinstance(sample, list | tuple) and len(set(sample)) == 1:
            sample = sample[0]
        if not isinstance(sample, int) or "vae" not in components:
            raise DataError(
                f"Cannot tell the native image size of {self.root}: it needs a vae and a unet or "
                "transformer whose config.json has one square sample_size."
            )
        vae = self.component_config("vae")
        factor = 2 ** (len(vae.get("block_out_channels", [0])) - 1)
        return sample * factor, int(vae.get("out_channels", 3))

    # ---- identity -------------------------------------------------------------------------------
    def index_sha256(self) -> str:
        return hashlib.sha256(self.index_path.read_bytes()).hexdigest()

    def fingerprint(self) -> str:
        """sha256 over every file's relative path and the sha256 of its contents."""
        files = []
        for path in sorted(p for p in self.root.rglob("*") if p.is_file()):
            relative = path.relative_to(self.root).as_posix()
            if relative != SOURCE_MANIFEST:
                stat = path.stat()
                files.append((relative, stat.st_size, stat.st_mtime_ns))
        return _contents_sha256(self.root, tuple(files))


@functools.lru_cache(maxsize=16)
def _contents_sha256(root: Path, files: tuple[tuple[str, int, int], ...]) -> str:
    """The fingerprint of `files` (path, size, mtime) under `root`. Memoised on their sizes and
    modification times: every shard loads the generator, and hashing gigabytes of weights once
    per process is enough; a file written since has a new mtime, so it is hashed again."""
    digest = hashlib.sha256()
    for relative, _, _ in files:
        digest.update(f"{relative}\0{_file_sha256(root / relative)}\n".encode())
    return digest.hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _cached_copy(url: str, cache_dir: Path) -> Path:
    """A local copy of the remote folder `url` under `cache_dir`, copied again when any remote
    file's fsspec key (size, modification time or ETag, by filesystem) changed."""
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(url)
    except (ValueError, ImportError) as exc:
        raise ConfigError(
            f"Cannot open {url} ({exc}); install the fsspec filesystem for its protocol (s3fs "
            "for s3://, gcsfs for gs://) or give a local folder."
        ) from None
    root = root.rstrip("/")
    try:
        files = sorted(fs.find(root))
    except OSError as exc:
        raise DataError(f"Cannot list {url} ({exc}); check the URL and its credentials.") from None
    if not files:
        raise DataError(f"{url} holds no files; point `path` at a diffusers pipeline folder.")
    listing = {f[len(root) + 1 :]: fs.ukey(f) for f in files}
    target = cache_dir / hashlib.sha256(url.encode()).hexdigest()[:16]
    manifest = target / SOURCE_MANIFEST
    if manifest.is_file() and json.loads(manifest.read_text()) == {"url": url, "files": listing}:
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(dir=cache_dir, prefix=".partial-"))
    try:
        for relative in listing:
            destination = partial / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            fs.get_file(f"{root}/{relative}", str(destination))
        (partial / SOURCE_MANIFEST).write_text(json.dumps({"url": url, "files": listing}))
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)  # a copy is complete or absent, never half-written
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target
