"""The bundled recipes: one TOML file per recipe in this folder, named as the recipe (``xarchkd recipes`` lists
them; ``xarchkd run NAME`` runs one; copy a file, edit it and ``xarchkd run my-recipe.toml``). Found by xarchkd
through the ``xarchkd.recipes`` entry point."""
from pathlib import Path

from xarchkd.recipe import recipe_from_file

RECIPES = {r.name: r for r in (recipe_from_file(p) for p in sorted(Path(__file__).parent.glob("*.toml")))}
