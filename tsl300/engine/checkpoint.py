"""Checkpoints: safetensors weights + a JSON sidecar; loading never unpickles.

A checkpoint ``NAME`` is three files side by side:

- ``NAME.safetensors``: model weights (and buffers);
- ``NAME.json``: sidecar with the recipe, the model spec (modality shapes, classes, extractor
  specs), the package version, the step and metrics;
- ``NAME.optim.safetensors`` (optional): optimizer state for resuming, tensors flattened to
  ``state.<param index>.<name>``; its scalar entries and hyper-parameters go in the sidecar.
  A method's own training state (:meth:`tsl300.methods.base.Method.training_state`: pseudo
  labels, numpy generators) rides along: its arrays as ``method_state.<n>`` tensors in this
  file, the rest as JSON in the sidecar's ``method_state``.

A pickle (``torch.save``) file is refused with a ``CheckpointError``: unpickling runs arbitrary
code, and a checkpoint may come from a stranger. Writes are atomic (temp file + rename), and
the three files always come from one save (see :func:`finish_interrupted_save`).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .. import __version__
from ..data.io import chmod_like_open
from ..errors import CheckpointError

FORMAT = "tsl300-checkpoint/1"
_PICKLE_MAGIC = (b"\x80", b"PK\x03\x04")  # pickle protocol >= 2, torch.save zip archive


@dataclass
class Checkpoint:
    state_dict: dict[str, torch.Tensor]
    meta: dict[str, Any]
    optimizer_state: dict[str, Any] | None = None
    path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def checkpoint_paths(path: str | Path) -> tuple[Path, Path, Path]:
    """(weights, sidecar, optimizer) paths for ``path`` with or without its ``.safetensors``."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    return (stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json"),
            stem.with_name(stem.name + ".optim.safetensors"))


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        try:
            write(tmp)
        except SafetensorError as exc:  # its I/O errors (a full disk) are not OSErrors
            raise CheckpointError(f"{path}: cannot write the checkpoint ({exc})") from None
        chmod_like_open(tmp)  # mkstemp's 0600 would ignore the user's umask
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _flatten_optimizer(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    tensors, scalars = {}, {}
    for index, entries in state["state"].items():
        for name, value in entries.items():
            key = f"state.{index}.{name}"
            if torch.is_tensor(value):
                tensors[key] = value.detach().cpu().contiguous().clone()
            else:
                scalars[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict[str, Any]] = {}
    tensors = {k: v for k, v in tensors.items() if k.startswith("state.")}
    for key, value in list(tensors.items()) + list(meta.get("scalars", {}).items()):
        _, index, name = key.split(".", 2)
        state.setdefault(int(index), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}


_ARRAY = "__array__"


def pack_state(state: Any) -> tuple[Any, dict[str, torch.Tensor]]:
    """A method's training state -> (JSON-able value, tensors): each numpy array becomes a tensor
    ``method_state.<n>`` and a ``{"__array__": name, "dtype": ...}`` placeholder (its dtype is
    restored exactly, e.g. a generator's uint32 keys)."""
    import numpy as np

    tensors: dict[str, torch.Tensor] = {}

    def walk(value):
        if isinstance(value, np.ndarray):
            name = f"method_state.{len(tensors)}"
            stored = value.astype(np.int64) if value.dtype.kind == "u" else value
            tensors[name] = torch.from_numpy(np.ascontiguousarray(stored)).clone()
            return {_ARRAY: name, "dtype": value.dtype.str}
        if isinstance(value, dict):
            if not all(isinstance(k, str) for k in value):
                raise TypeError("training_state dict keys must be strings (JSON)")
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [walk(v) for v in value]
        if isinstance(value, np.generic):
            return value.item()
        return value

    return walk(state), tensors


def unpack_state(plain: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of :func:`pack_state` (tuples come back as lists)."""
    import numpy as np

    def walk(value):
        if isinstance(value, dict):
            if _ARRAY in value:
                return tensors[value[_ARRAY]].numpy().astype(np.dtype(value["dtype"]))
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(plain)


def save_checkpoint(path: str | Path, model: torch.nn.Module, meta: dict[str, Any],
                    optimizer: torch.optim.Optimizer | None = None, method_state: Any = None) -> Path:
    """Write weights, sidecar (and the resume state: optimizer, the method's own training state).
    Returns the weights path."""
    weights, sidecar, optim_path = checkpoint_paths(path)
    state = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    for key, value in state.items():
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise CheckpointError(f"{weights}: refusing to save non-finite values in '{key}'")
    full_meta = {"format": FORMAT, "tsl300_version": __version__, **meta}
    finish_interrupted_save(path)
    # phase 1: every file complete under a hidden ".pending" name, the sidecar last
    resume_tensors: dict[str, torch.Tensor] = {}
    if optimizer is not None:
        resume_tensors, full_meta["optimizer"] = _flatten_optimizer(optimizer.state_dict())
    if method_state:
        full_meta["method_state"], arrays = pack_state(method_state)
        resume_tensors.update(arrays)
    if optimizer is not None or method_state:
        _atomic_write(_pending(optim_path), lambda tmp: save_file(resume_tensors, tmp))
    _atomic_write(_pending(weights), lambda tmp: save_file(state, tmp, metadata={"format": FORMAT}))
    text = json.dumps(full_meta, indent=2, sort_keys=False, default=_json_default)
    _atomic_write(_pending(sidecar), lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    # phase 2: move them into place
    finish_interrupted_save(path)
    return weights


def _pending(path: Path) -> Path:
    return path.with_name(f".{path.name}.pending")


def atomic_copy_pending(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst``'s ``.pending`` name (phase 1 of a save; see
    :func:`finish_interrupted_save` for phase 2)."""
    _atomic_write(_pending(dst), lambda tmp: shutil.copyfile(src, tmp))


def finish_interrupted_save(path: str | Path) -> None:
    """Complete or undo a save of checkpoint ``path`` that a crash interrupted.

    Saving writes the optimizer state, weights and sidecar under ``.pending`` names (the
    sidecar last), then renames them into place (the sidecar last). A pending sidecar thus means
    the new set is complete: the renames are finished here (a crash between two renames would
    otherwise pair new weights with the old sidecar, and a resumed run would silently train
    from a mixed state). Without it the new set is incomplete and its files are removed; the
    previous checkpoint is untouched. Called by every save, and by a load that finds a
    pending sidecar.
    """
    weights, sidecar, optim_path = checkpoint_paths(path)
    ready = _pending(sidecar).exists()
    for final in (optim_path, weights, sidecar):
        pending = _pending(final)
        try:
            if ready:
                os.replace(pending, final)
            else:
                pending.unlink()
        except FileNotFoundError:  # not part of this save, or another process got there first
            pass


def _json_default(value):
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _check_not_pickle(path: Path) -> None:
    """A safetensors file starts with a u64 header length then ``{``; anything else is refused,
    with a pointed message when it looks like a pickle or a torch.save archive."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    size = path.stat().st_size
    if len(head) >= 9 and head[8:9] == b"{" and 8 + int.from_bytes(head[:8], "little") <= size:
        return
    if head.startswith(_PICKLE_MAGIC):
        raise CheckpointError(
            f"{path}: this is a pickle / torch.save file, which tsl300 never loads because "
            f"unpickling can run arbitrary code; the official TSL-Net checkpoint converts safely with "
            f"`tsl300 import-official {path} --out RUN`, anything else in a trusted session")
    raise CheckpointError(f"{path}: not a safetensors file (bad header)")


def _require_regular(path: Path) -> None:
    """A FIFO or device named like a checkpoint would block the reader forever: refuse it."""
    if path.exists() and not path.is_file():
        raise CheckpointError(f"{path}: not a regular file (a folder, FIFO or device)")


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    _require_regular(path)
    _check_not_pickle(path)
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot read safetensors ({exc})") from None


def load_checkpoint(path: str | Path, with_optimizer: bool = False) -> Checkpoint:
    """Read a checkpoint saved by :func:`save_checkpoint`, without unpickling anything."""
    weights, sidecar, optim_path = checkpoint_paths(path)
    if _pending(sidecar).exists():  # a save stopped while moving its files: complete it
        finish_interrupted_save(path)
    if not weights.exists():
        given = Path(path)
        if given.exists() and given.suffix not in (".safetensors", ".json"):
            _check_not_pickle(given)  # e.g. model_seed_123.pkl from the official code
        raise CheckpointError(f"{weights}: checkpoint weights not found")
    state = _load_tensors(weights)
    if not sidecar.exists():
        raise CheckpointError(f"{sidecar}: checkpoint sidecar (JSON with recipe and classes) not found")
    _require_regular(sidecar)
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{sidecar}: sidecar is not valid JSON ({exc})") from None
    except RecursionError:
        raise CheckpointError(f"{sidecar}: sidecar is not valid JSON (nested too deeply)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{sidecar}: not a tsl300 checkpoint sidecar (format {meta.get('format')!r}"
                              f" where {FORMAT!r} was expected)" if isinstance(meta, dict)
                              else f"{sidecar}: sidecar must be a JSON object")
    optimizer_state, extra = None, {}
    if with_optimizer and ("optimizer" in meta or "method_state" in meta):
        if not optim_path.exists():
            raise CheckpointError(f"{optim_path}: optimizer state for resuming not found")
        resume_tensors = _load_tensors(optim_path)
        if "optimizer" in meta:
            optimizer_state = _unflatten_optimizer(resume_tensors, meta["optimizer"])
        if "method_state" in meta:
            try:
                extra["method_state"] = unpack_state(meta["method_state"], resume_tensors)
            except (KeyError, TypeError, ValueError) as exc:
                raise CheckpointError(f"{optim_path}: method training state does not match the sidecar "
                                      f"({exc!r})") from None
    return Checkpoint(state_dict=state, meta=meta, optimizer_state=optimizer_state, path=weights, extra=extra)


def resolve_checkpoint(path: str | Path) -> Path:
    """A run folder -> its selected model (``model.safetensors``); a file -> itself."""
    path = Path(path)
    if path.is_dir():
        for candidate in ("model.safetensors", "checkpoints/last.safetensors"):
            if (path / candidate).exists():
                return path / candidate
        raise CheckpointError(f"{path}: no model.safetensors in this run folder (did training finish?)")
    return path
