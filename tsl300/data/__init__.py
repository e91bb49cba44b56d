"""Data layer: the TSL-300 on-disk layout (read and written), the generic feature layout,
the shipped TSL-300 annotations, and the synthetic dataset generator.

Main entry points::

    from tsl300.data import load_dataset, write_layout, tsl300_annotations
    ds = load_dataset("/data/TSL300", "train", points="random", seed=0)
    video = ds[0]            # tsl300.data.types.Video

See :mod:`tsl300.data.dataset` for the rules, :mod:`tsl300.data.layout` for the writers and
:mod:`tsl300.data.synth` for the generator.
"""
from ..lazy import lazy_attributes

# imported on first use, so that a leaf such as ``tsl300.data.io`` (used by the result types)
# does not pull in pandas and the dataset readers
_LAZY = {
    "FeatureDataset": "dataset", "load_dataset": "dataset",
    "normalize_logmel": "features", "denormalize_logmel": "features",
    "gt_database": "layout", "points_table": "layout", "write_annotator_files": "layout",
    "write_features": "layout", "write_gt": "layout", "write_json_dict": "layout", "write_layout": "layout",
    "write_point_labels": "layout", "write_spec": "layout", "write_split": "layout",
    "video_to_disk_features": "layout",
    "official_annotator_choice": "points", "tsl300_annotations": "resources",
    "Segment": "types", "Video": "types",
}
__all__ = list(_LAZY)
__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
