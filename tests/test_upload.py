"""Checkpoint upload against a real S3-protocol server (moto's standalone server) on loopback."""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

boto3 = pytest.importorskip("boto3")
pytest.importorskip("moto")

import xarchkd
from xarchkd.distill.upload import UploadError, upload_folder


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server():
    port = _free_port()
    moto = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    env = {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    client = boto3.client("s3", endpoint_url=url)
    client.create_bucket(Bucket="ckpts")
    yield client
    proc.terminate()
    proc.wait(timeout=10)
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def test_training_uploads_checkpoints_and_student_byte_for_byte(tmp_path, s3_server, tiny_teacher, conll_small):
    out = tmp_path / "run"
    xarchkd.run("bert-cnn-ner", progress=False, **{
        "out": str(out), "cache_dir": str(tmp_path / "cache"), "teacher.name": str(tiny_teacher),
        "teacher.finetune": False, "data.name": str(conll_small), "student.embed_dim": 16, "student.hidden": 16,
        "student.layers": 1, "train.epochs": 1, "train.min_steps": 0, "upload": "s3://ckpts/exp1"})
    keys = {o["Key"] for o in s3_server.list_objects_v2(Bucket="ckpts", Prefix="exp1/")["Contents"]}
    assert "exp1/student/model.safetensors" in keys and "exp1/checkpoints/last/trainer_state.json" in keys
    for key in ("exp1/student/model.safetensors", "exp1/student/config.json", "exp1/checkpoints/last/model.safetensors"):
        body = s3_server.get_object(Bucket="ckpts", Key=key)["Body"].read()
        assert body == (out / key.removeprefix("exp1/")).read_bytes()


def test_unreachable_endpoint_is_a_clear_error_and_keeps_local_files(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_free_port()}")   # nothing listens here
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "model.safetensors").write_bytes(b"weights")
    with pytest.raises(UploadError, match="local copy .* is intact"):
        upload_folder(ckpt, "s3://ckpts/x")
    assert (ckpt / "model.safetensors").read_bytes() == b"weights"
    with pytest.raises(UploadError, match="s3://bucket/prefix"):
        upload_folder(ckpt, "http://nope")
