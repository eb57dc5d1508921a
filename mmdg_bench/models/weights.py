"""Weight files of the pre-trained backbones: where they are looked for, which ones are known, and how
a file is read and loaded strictly into a network whose module names are the file's keys.

    mmdg-bench weights list
    mmdg-bench weights download slowfast_r101_8x8x1_256e_kinetics400_rgb_20210218-0dd54025.pth

A preset names a file; it is looked for in `model.weights_dir`, else $MMDG_BENCH_WEIGHTS, else
~/.cache/mmdg-bench/weights (a value with a folder in it is taken as a path).
"""

import functools
import hashlib
import logging
import os
import pickle
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mmdg_bench.errors import UserError

WEIGHTS_ENV = "MMDG_BENCH_WEIGHTS"
DEFAULT_WEIGHTS_DIR = Path("~/.cache/mmdg-bench/weights")
# mmcv and torch.hub name a file `<name>-<first 8 hex digits of its sha256>.pth`.
HASH_IN_NAME = re.compile(r"-([0-9a-f]{8})\.pth$")
SHOWN = 3  # mismatched keys named in an error; the counts give the rest
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KnownFile:
    name: str
    url: str
    size_mb: float  # approximate, for the listing
    encoder: str  # the registered encoder it loads into

    @property
    def sha256_prefix(self) -> str | None:
        match = HASH_IN_NAME.search(self.name)
        return match[1] if match else None


MMACTION = "https://download.openmmlab.com/mmaction/recognition"
TORCHVISION = "https://download.pytorch.org/models"
# The URLs as SimMMDG's and MMDG-Bench's READMEs publish them (the backbones' README facts). H.pth.tar's
# size is not published: about 45 MB follows from its 11.33M float32 parameters.
PAPER_FILES = [
    KnownFile("slowfast_r101_8x8x1_256e_kinetics400_rgb_20210218-0dd54025.pth",
              f"{MMACTION}/slowfast/slowfast_r101_8x8x1_256e_kinetics400_rgb/"
              "slowfast_r101_8x8x1_256e_kinetics400_rgb_20210218-0dd54025.pth", 265, "slowfast_r101_8x8"),
    KnownFile("slowonly_r50_8x8x1_256e_kinetics400_flow_20200704-6b384243.pth",
              f"{MMACTION}/slowonly/slowonly_r50_8x8x1_256e_kinetics400_flow/"
              "slowonly_r50_8x8x1_256e_kinetics400_flow_20200704-6b384243.pth", 135, "slowonly_r50_flow"),
    KnownFile("H.pth.tar", "http://www.robots.ox.ac.uk/~vgg/data/vggsound/models/H.pth.tar", 45, "vggsound_r18"),
]
# torchvision 0.26's Kinetics-400 weights (`<Model>_Weights.KINETICS400_V1.url`, meta `_file_size`).
TORCHVISION_FILES = [
    KnownFile(f"{name}.pth", f"{TORCHVISION}/{name}.pth", size, name.split("-")[0].removesuffix("_1k"))
    for name, size in [("r3d_18-b3b3357e", 127), ("mc3_18-a90a0ba3", 45), ("r2plus1d_18-91a641e6", 120),
                       ("s3d-d76dad2f", 32), ("mvit_v1_b-dbeb1030", 140), ("mvit_v2_s-ae3be167", 132),
                       ("swin3d_t-7615ae03", 122), ("swin3d_s-da41c237", 218), ("swin3d_b_1k-24f7c7c6", 364)]
]
KNOWN_FILES: dict[str, KnownFile] = {f.name: f for f in PAPER_FILES + TORCHVISION_FILES}


def weights_dir(setting: str | None = None) -> Path:
    return Path(setting or os.environ.get(WEIGHTS_ENV) or DEFAULT_WEIGHTS_DIR).expanduser()


def weights_path(file: str, setting: str | None = None) -> Path:
    """A bare file name lives in the weights folder; anything with a folder in it is a path."""
    path = Path(file).expanduser()
    return path if path.is_absolute() or len(path.parts) > 1 else weights_dir(setting) / file


def missing_weights(file: str, path: Path, where: str) -> UserError:
    how = (f"run `mmdg-bench weights download {file}`" if file in KNOWN_FILES
           else "put the file there")
    return UserError(f"weight file {file} for {where} is not at {path}: {how}, or point model.weights_dir "
                     f"(or ${WEIGHTS_ENV}) at the folder that holds it")


def check_weights_present(model_config, modalities=None) -> None:
    """Stop before any data is read when an encoder of `modalities` (default: all) names an absent file."""
    for modality, spec in model_config.encoders.items():
        file = spec.get("weights") if isinstance(spec, dict) else None
        if file and (modalities is None or modality in modalities):
            path = weights_path(file, model_config.weights_dir)
            if not path.is_file():
                raise missing_weights(file, path, f"model.encoders.{modality}")


def file_sha256(path: Path) -> str:
    """The file's sha256, read once per (path, size, modification time): a run start checks a
    weight file and may read it again, and the feature cache keys on it."""
    stat = path.stat()
    return _sha256(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def is_official(path: Path) -> bool:
    """True when the file's sha256 starts with the digits its known name publishes."""
    known = KNOWN_FILES.get(path.name)
    prefix = known.sha256_prefix if known else None
    return prefix is not None and file_sha256(path).startswith(prefix)


def check_known(path: Path) -> None:
    """A known file must be the published one; an unknown one is loaded with a warning."""
    known = KNOWN_FILES.get(path.name)
    if known is None:
        warnings.warn(f"{path.name} is not one of the known weight files (`mmdg-bench weights list`); "
                      f"loading it as it is", stacklevel=2)
    elif known.sha256_prefix and not is_official(path):
        raise UserError(f"{path} is not the published {path.name} (its sha256 does not start with "
                        f"{known.sha256_prefix}): delete it and run `mmdg-bench weights download {path.name}`")


# What an mmcv/mmaction2 checkpoint may hold beside tensors and plain Python values: numpy scalars and
# arrays in its `meta` (both numpy 1.x and 2.x module names). These, and nothing else, are allowed to the
# weights-only unpickler: a file is never unpickled in full, whatever it is called (a sha256 prefix in a
# name checks integrity; it is no licence to run a pickle's code).
CHECKPOINT_METADATA = [
    np.dtype, np.ndarray, np._core.multiarray.scalar, np._core.multiarray._reconstruct,
    (np._core.multiarray.scalar, "numpy.core.multiarray.scalar"),
    (np._core.multiarray._reconstruct, "numpy.core.multiarray._reconstruct"),
    *(getattr(np.dtypes, name) for name in np.dtypes.__all__),  # a dtype is rebuilt from its class
]
METADATA_NAMES = {"numpy.dtype", "numpy.ndarray", *(f"numpy.{core}.multiarray.{f}" for core in ("core", "_core")
                                                   for f in ("scalar", "_reconstruct")),
                  *(f"numpy.dtypes.{name}" for name in np.dtypes.__all__)}


def read_checkpoint(path: Path) -> object:
    """The file's contents through torch's weights-only unpickler (tensors, plain values, numpy metadata);
    anything else, and any way a damaged file fails, is one sentence."""
    try:
        # torch's own warnings about a damaged or old pickle (protocol, TypedStorage) say nothing a user can act on
        with torch.serialization.safe_globals(CHECKPOINT_METADATA), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise UserError(f"{path} holds objects other than tensors and plain metadata ({refused_globals(path)}); "
                        f"such objects are never unpickled, since they can run code: where you trust the "
                        f"file, save its state dict alone with torch.save") from None
    except Exception as err:  # a damaged file fails in torch.load in many ways: RuntimeError, EOFError, KeyError...
        reason = (str(err).splitlines() or [""])[0][:160]
        raise UserError(f"{path} is not a readable PyTorch checkpoint (truncated or corrupt?): "
                        f"{type(err).__name__}{': ' + reason if reason else ''}") from None


def refused_globals(path: Path) -> str:
    """The Python objects a checkpoint would need the full unpickler for, as torch names them."""
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:
        return "objects torch's weights-only unpickler refuses"
    shown = sorted(n for n in names if n not in METADATA_NAMES)
    return ", ".join(shown[:SHOWN]) + (", ..." if len(shown) > SHOWN else "") if shown else "unknown objects"


def state_dict_of(checkpoint: object, path: Path) -> dict[str, torch.Tensor]:
    """mmaction2/mmcv: {meta, state_dict}; VGGSound: {model_state_dict, ...}; torchvision: the dict itself.
    A `module.` prefix left by DataParallel is stripped."""
    state = checkpoint
    for key in ("state_dict", "model_state_dict"):
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(key), dict):
            state = checkpoint[key]
            break
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise UserError(f"{path} holds no state dict: expected a mapping of names to tensors, or one under "
                        f"'state_dict' (mmaction2) or 'model_state_dict' (VGGSound)")
    return {k.removeprefix("module."): v for k, v in state.items()}


def named(keys: list[str]) -> str:
    return ", ".join(keys[:SHOWN]) + (", ..." if len(keys) > SHOWN else "")


def load_weights(network: nn.Module, path: Path, what: str, strict: bool = True) -> str:
    """Copy the file's tensors into `network` (keys = module names) and return a one-line summary.

    Strict: any missing, unexpected or wrong-shaped tensor is a UserError naming the first few and the
    counts. `num_batches_tracked` may be absent (older files do not store it). Not strict: what fits loads."""
    state = state_dict_of(read_checkpoint(path), path)
    expected = network.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if strict and (missing or unexpected or wrong):
        problems = [f"{len(keys)} {kind} ({named(keys)})" for kind, keys in
                    (("missing", missing), ("unexpected", unexpected)) if keys]
        if wrong:
            first = wrong[0]
            problems.append(f"{len(wrong)} of the wrong shape ({first}: {list(state[first].shape)} in the file, "
                            f"{list(expected[first].shape)} in the model{', ...' if len(wrong) > 1 else ''})")
        raise UserError(f"{path.name} does not fit {what}: {', '.join(problems)}; check that the file belongs "
                        f"to this encoder, or set its 'strict: false' to load only the tensors that fit")
    usable = {k: v for k, v in state.items() if k in expected and k not in wrong}
    network.load_state_dict(usable, strict=False)
    left = len(expected) - len(usable)
    return (f"{what}: loaded {len(usable)} of {len(expected)} tensors from {path.name}"
            + (f" ({left} left as initialised)" if left else ""))


def load_encoder_weights(network: nn.Module, file: str, weights_dir: str | None, modality: str, name: str,
                         strict: bool) -> str:
    """Find `file` (a preset's `weights` setting), check it against the known files, load it strictly."""
    path = weights_path(file, weights_dir)
    if not path.is_file():
        raise missing_weights(file, path, f"model.encoders.{modality}")
    check_known(path)
    summary = load_weights(network, path, f"{modality} encoder {name}", strict)
    log.info(summary)
    return summary


def read_kept_weights(path: Path, device: str) -> dict:
    """A run's kept weights; a damaged file (cut short, overwritten) is one sentence with the repair."""
    try:
        state = torch.load(path, weights_only=True, map_location=device)
        if not isinstance(state, dict):
            raise ValueError("it does not hold a model's state")
    except (OSError, RuntimeError, ValueError, EOFError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UserError(f"the kept weights {path} cannot be read ({reason[:200]}): retrain the run with --force "
                        f"to keep them again") from None
    return state
