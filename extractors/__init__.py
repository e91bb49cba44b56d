"""Per-snippet feature extractors, installed as ``tsl300.extractors``."""
