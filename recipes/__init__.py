"""Bundled recipes (found by xarchkd through the ``xarchkd.recipes`` entry point)."""
from .ner import RECIPES as _NER

RECIPES = {**_NER}
