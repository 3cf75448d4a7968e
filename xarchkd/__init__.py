"""xarchkd: cross-architecture knowledge distillation (BERT-family teacher -> LSTM/SRU/SRU++/CNN student).

The public API:
    xarchkd.run("bert-sru-ner", out="runs/sru", train={"epochs": 3})   # run a named recipe
    xarchkd.recipes()                                                  # what recipes exist
    xarchkd.Teacher, xarchkd.ner_cache, xarchkd.distill_loss, ...      # the building blocks

Names are imported lazily, so ``import xarchkd`` is cheap and pulls in torch only when used.
"""
__version__ = "0.1.0"

_EXPORTS = {
    "run": "recipe", "recipes": "recipe", "get_recipe": "recipe", "register_recipe": "recipe", "Recipe": "recipe",
    "RunConfig": "config", "apply_overrides": "config", "from_toml": "config", "to_toml": "config",
    "Teacher": "teachers.teacher", "ner_cache": "teachers.cache", "mlm_cache": "teachers.cache",
    "open_cache": "teachers.cache", "Cache": "teachers.cache",
    "distill_loss": "distill.loss", "LossConfig": "distill.loss", "register_loss": "distill.loss",
    "XarchkdError": "errors", "DataError": "errors", "CacheError": "errors", "ConfigError": "errors",
    "ResourceError": "errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        import importlib
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'xarchkd' has no attribute {name!r}")
