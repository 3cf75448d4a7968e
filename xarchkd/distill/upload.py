"""Push checkpoints to S3-compatible object storage (the seed thesis's S3 callback), with boto3.

``checkpoint_uploader("s3://bucket/prefix", run_dir)`` returns a callback for the training loop:
after each saved checkpoint it uploads every file of that folder under
``s3://bucket/prefix/<path relative to run_dir>``, and at the end the final student. The local
files are written first and never touched by an upload: a failed upload (unreachable endpoint,
missing credentials, no such bucket) raises ``UploadError`` with the reason and says that the local
checkpoint is kept. The endpoint comes from ``$AWS_ENDPOINT_URL`` (or boto3's usual configuration),
so any S3-protocol server works (MinIO, moto, Ceph...).
"""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

from ..errors import XarchkdError


class UploadError(XarchkdError):
    """An upload failed; the local files are intact."""


def parse_s3(url: str) -> tuple[str, str]:
    u = urlparse(url)
    if u.scheme != "s3" or not u.netloc:
        raise UploadError(f"upload target {url!r} should look like s3://bucket/prefix")
    return u.netloc, u.path.strip("/")


def upload_folder(folder: str | Path, url: str, root: str | Path | None = None, client=None) -> list[str]:
    """Upload every file under ``folder`` to ``url`` (keys relative to ``root``); return the keys."""
    bucket, prefix = parse_s3(url)
    folder = Path(folder)
    root = Path(root) if root else folder.parent
    client = client or _client()
    keys = []
    try:
        for f in sorted(p for p in folder.rglob("*") if p.is_file()):
            key = "/".join(x for x in (prefix, f.relative_to(root).as_posix()) if x)
            client.upload_file(str(f), bucket, key)
            keys.append(key)
    except Exception as e:  # botocore raises many types: turn each into one clear message
        raise UploadError(f"could not upload {folder} to s3://{bucket}/{prefix} ({type(e).__name__}: {e}); "
                          f"the local copy in {folder} is intact") from None
    return keys


def checkpoint_uploader(url: str, run_dir: str | Path):
    """A callback ``f(path)`` that uploads ``path`` (a checkpoint or the student folder)."""
    parse_s3(url)   # fail early on a malformed target, before any training
    client = _client()

    def upload(path):
        keys = upload_folder(path, url, root=run_dir, client=client)
        print(f"[xarchkd] uploaded {len(keys)} files of {Path(path).name} to {url}", flush=True)
    return upload


def _client():
    try:
        import boto3
    except ImportError:
        raise UploadError("uploading needs boto3: pip install 'xarchkd[upload]'") from None
    return boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)
