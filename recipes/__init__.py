"""Bundled recipes (found by xarchkd through the ``xarchkd.recipes`` entry point)."""
from .mlm import RECIPES as _MLM
from .ner import RECIPES as _NER

RECIPES = {**_NER, **_MLM}
