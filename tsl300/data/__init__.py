"""Data layer: the TSL-300 on-disk layout (read and written), the generic feature layout,
the shipped TSL-300 annotations, and the synthetic dataset generator.

Main entry points::

    from tsl300.data import load_dataset, write_layout, tsl300_annotations
    ds = load_dataset("/data/TSL300", "train", points="random", seed=0)
    video = ds[0]            # tsl300.data.types.Video

See :mod:`tsl300.data.dataset` for the rules, :mod:`tsl300.data.layout` for the writers and
:mod:`tsl300.data.synth` for the generator.
"""
from .dataset import FeatureDataset, load_dataset
from .features import normalize_logmel, denormalize_logmel
from .layout import (gt_database, points_table, write_annotator_files, write_features, write_gt,
                     write_json_dict, write_layout, write_point_labels, write_spec, write_split,
                     video_to_disk_features)
from .points import official_annotator_choice
from .resources import tsl300_annotations
from .types import Segment, Video

__all__ = [
    "FeatureDataset", "load_dataset", "normalize_logmel", "denormalize_logmel", "gt_database",
    "points_table", "write_annotator_files", "write_features", "write_gt", "write_json_dict",
    "write_layout", "write_point_labels", "write_spec", "write_split", "video_to_disk_features",
    "official_annotator_choice", "tsl300_annotations", "Segment", "Video",
]
