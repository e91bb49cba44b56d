"""``tsl300 import-official CKPT --out RUN``: the official TSL-Net checkpoint as a tsl300 run folder.

The TSL-300 authors release their trained model as ``model_seed_123.pkl`` (a ``torch.save`` of
the state dict). After importing it, ``tsl300 test RUN --data TSL300`` scores the released model
with tsl300's evaluator, and ``tsl300.load_model(RUN)`` uses it.

Every other loader in tsl300 refuses pickles. This command is the one explicit place that reads
one, and only with ``torch.load(weights_only=True)``: PyTorch's restricted unpickler, which builds
tensors and plain containers and rejects any other object, so a crafted file cannot run code
here either. The output is safetensors + a JSON sidecar like any tsl300 checkpoint.
"""
from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

from ._args import add_output_dir, with_examples

NAME = "import-official"
HELP = "convert the official TSL-Net checkpoint (.pkl state dict) into a tsl300 run folder"

OFFICIAL_RECIPE = {
    "name": "tsl_net-official-checkpoint",
    "description": "the official TSL-Net checkpoint, imported; constants are the faithful recipe's defaults",
    "method": "tsl_net",
    "seed": 123,
    "select": "test",  # the official run kept its best evaluation on the test split
    "data": {"modalities": ["rgb", "logmfcc"], "point_source": "random", "max_snippets": None},
}
"""The faithful recipe (``recipes/tsl_net/tsl_net.yaml``) minus the values equal to the defaults
of :class:`tsl300.methods.tsl_net.TSLNetModel` / ``TSLNetLoss`` and :class:`tsl300.postprocess.PostprocessParams`
(tested equal), so the import works without the repository's ``recipes/``."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="the official state dict, e.g. model_seed_123.pkl")
    add_output_dir(parser, "run folder to write (model.safetensors + model.json)", required=True, old=("--out",))
    with_examples(parser, "tsl300 import-official model_seed_123.pkl -o runs/official",
                  "tsl300 test runs/official --data TSL300   # then score it")


def read_official_state(path: Path) -> dict:
    """Tensors of the official checkpoint, names as the official code has them."""
    import torch

    from ..errors import CheckpointError

    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: refused: it holds more than tensors ({first}); only a plain "
                              "state dict is imported, and nothing else in it is run") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable torch checkpoint ({exc})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensors, got {type(state).__name__}")
    # a model saved through DataParallel has every name prefixed with "module."
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def import_official(checkpoint: str | Path, out: str | Path) -> Path:
    """Write ``out/model.safetensors`` + ``model.json`` from the official checkpoint."""
    from ..engine.checkpoint import save_checkpoint
    from ..engine.trainer import checkpoint_meta
    from ..errors import CheckpointError
    from ..methods.registry import ModelSpec, build_method
    from ..models.tsl_net import load_official_state_dict
    from ..recipes import recipe_from_dict

    checkpoint = Path(checkpoint)
    state = read_official_state(checkpoint)
    recipe = recipe_from_dict(OFFICIAL_RECIPE, source=f"{checkpoint} (imported)")
    spec = ModelSpec({"rgb": (1024,), "logmfcc": (32, 60)})
    method = build_method(recipe, spec)
    try:
        load_official_state_dict(method.net, state)
    except (KeyError, RuntimeError) as exc:
        raise CheckpointError(f"{checkpoint}: not the official TSL-Net's parameters "
                              f"({str(exc).strip().splitlines()[0]})") from None
    meta = {**checkpoint_meta(recipe, spec, step=None),
            "imported_from": {"file": checkpoint.name, "format": "official TSL-Net state dict (torch.save)"}}
    return save_checkpoint(Path(out) / "model", method, meta)


def run(args: argparse.Namespace) -> int:
    weights = import_official(args.checkpoint, args.output_dir)
    print(f"imported {args.checkpoint} -> {weights}")
    print(f"score it: tsl300 test {args.output_dir} --data TSL300_FOLDER", file=sys.stderr)
    return 0
