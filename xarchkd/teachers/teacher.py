"""The teacher: a thin wrapper around a Hugging Face token-classification or masked-LM model, and the
files of a teacher folder.

``Teacher`` (loaded by ``Teacher.load``, i.e. ``load.load_teacher``: a resource name, a local folder or a
Hub id) runs the model under ``inference_mode`` and returns float32 logits on the CPU: ``forward`` /
``outputs`` (every token, optionally the last hidden state), ``word_logits`` (NER: at word positions, the
``predict.WordLogits`` that ``predict_tags`` decodes) and ``masked_logits`` (MLM: the LM head at the masked
positions only, through ``MaskedLogits``). It counts its forward passes (``forward_count``) so callers can
prove a cache hit did none. It runs on this process's GPU when there is one (``device="auto"``), under
fp16/bf16 autocast when ``mixed_precision`` asks for it (GPU only, refused on the CPU like a training run's).

A teacher fine-tuned here (``finetune.py``) has a record, ``xarchkd_teacher.json`` (scores, settings and
each file's sha256): ``publish_teacher`` writes it and puts the folder in place, ``is_built`` /
``teacher_problem`` / ``verify_teacher`` check it. ``teacher_summary`` reads a folder's size and scores
without loading it; ``input_embeddings`` and ``pca_embeddings`` make a student's initial embedding table.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..atomic import publish_dir, write_json
from ..data.fingerprint import checksum_problem, file_checksums
from ..data.resources import resolve
from ..distill.accel import autocast, check_precision, engine_info, inference_device
from ..errors import ResourceError
from ..folder_config import has_ner_head, read_json_object

INFO_FILE = "xarchkd_teacher.json"


class MaskedLogits(torch.nn.Module):
    """A ``*ForMaskedLM`` model's logits at chosen positions only: the encoder runs on every token,
    the LM head (a vocabulary-wide matmul) only on the masked ones. Training goes through this module's
    forward, so under ``accelerate launch`` DDP sees the call and all-reduces the gradients."""

    def __init__(self, mlm):
        super().__init__()
        self.mlm = mlm

    def forward(self, ids, mask, rows, positions):
        hidden = self.mlm.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
        head = getattr(self.mlm, "cls", None) or getattr(self.mlm, "lm_head")   # BERT's / MPNet-RoBERTa's head
        return head(hidden[rows, positions])


@dataclass
class Teacher:
    model: torch.nn.Module
    tokenizer: object
    task: str                      # "ner" | "mlm"
    name: str
    path: str
    forward_count: int = 0
    info: dict = field(default_factory=dict)   # the fine-tuning record, if the folder has one
    mixed_precision: str = "no"                # autocast for inference: "no" | "fp16" | "bf16" (GPU only)

    @classmethod
    def load(cls, name_or_path: str, task: str = "ner", labels: list[str] | None = None,
             device: str | torch.device | None = "auto", mixed_precision: str = "no") -> "Teacher":
        """A teacher from a resource name, a local folder or a Hub id, on ``device`` (``"auto"``: this process's
        GPU if there is one, else the CPU), under ``mixed_precision`` autocast (``load.load_teacher`` is this).
        ``labels`` (NER): for a folder without a token-classification head, a random head with these labels is
        attached (its tags mean nothing)."""
        from transformers import AutoModelForMaskedLM, AutoModelForTokenClassification, AutoTokenizer
        dev = inference_device(device)
        check_precision(mixed_precision, dev.type == "cuda")
        path = resolve(name_or_path)
        verify_teacher(path)
        random_head = task == "ner" and bool(labels) and not has_ner_head(path)
        kwargs = {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
                  "label2id": {l: i for i, l in enumerate(labels)}} if random_head else {}
        auto = AutoModelForTokenClassification if task == "ner" else AutoModelForMaskedLM
        try:
            with warnings.catch_warnings():
                if random_head:             # "some weights are newly initialized": the random head, as asked
                    warnings.simplefilter("ignore")
                model = auto.from_pretrained(path, **kwargs)
            tokenizer = AutoTokenizer.from_pretrained(path)
        except (OSError, ValueError) as e:
            raise ResourceError(f"could not load teacher {name_or_path!r} from {path}: {e}") from None
        model.to(dev).eval()
        info_path = Path(path) / INFO_FILE
        info = json.loads(info_path.read_text()) if info_path.is_file() else {}
        return cls(model, tokenizer, task, str(name_or_path), str(path), info=info, mixed_precision=mixed_precision)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def build_info(self) -> dict:
        """Where and how this teacher computes: device (with the GPU's name) and precision. Caches
        record it beside their build time; it is not part of any fingerprint."""
        return engine_info(self.device, self.mixed_precision)

    @property
    def labels(self) -> list[str]:
        cfg = self.model.config
        return [cfg.id2label[i] for i in range(cfg.num_labels)]

    @property
    def params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @property
    def size_mb(self) -> float:
        """Size on disk of the weights file(s), or fp32 parameter bytes when not on disk."""
        files = list(Path(self.path).glob("*.safetensors")) + list(Path(self.path).glob("pytorch_model*.bin"))
        if files:
            return sum(f.stat().st_size for f in files) / 1e6
        return self.params * 4 / 1e6

    def summary(self) -> dict:
        """``teacher_summary`` of this teacher's folder (the one summary: a cache's manifest and a run's results
        both record it), with the loaded model's parameter count and size where the folder has no safetensors
        weights to read them from (a ``pytorch_model.bin``, a Hub id)."""
        s = teacher_summary(self.path)
        if not s["params"]:
            s.update(params=self.params, size_mb=round(self.size_mb, 2))
        return s

    @torch.inference_mode()
    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Logits [B,T,C] for padded ids, float32 on the CPU (counted in ``forward_count``)."""
        return self.outputs(ids, mask)[0]

    @torch.inference_mode()
    def outputs(self, ids: torch.Tensor, mask: torch.Tensor, hidden: bool = False):
        """``(logits [B,T,C], last hidden state [B,T,D] or None)`` for padded ids, float32 on the CPU,
        computed on the teacher's device under its autocast (counted in ``forward_count``)."""
        self.forward_count += 1
        dev = self.device
        with autocast(dev, self.mixed_precision):
            out = self.model(input_ids=ids.to(dev, non_blocking=True), attention_mask=mask.to(dev, non_blocking=True),
                             output_hidden_states=hidden)
        hs = out.hidden_states[-1].float().cpu() if hidden else None
        return out.logits.float().cpu(), hs

    @torch.inference_mode()
    def masked_logits(self, ids: torch.Tensor, mask: torch.Tensor, rows: torch.Tensor,
                      positions: torch.Tensor) -> torch.Tensor:
        """MLM logits [N, V] at the N token positions ``(rows[i], positions[i])`` of the padded batch only
        (counted in ``forward_count``): the LM head's vocabulary-wide matmul skips every other token."""
        self.forward_count += 1
        dev = self.device
        with autocast(dev, self.mixed_precision):
            out = MaskedLogits(self.model)(ids.to(dev), mask.to(dev), rows.to(dev), positions.to(dev))
        return out.float().cpu()

    def word_logits(self, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, shapes=None) -> torch.Tensor:
        """NER logits [B,P,C] at the word positions [B,P] of padded ids (``predict.WordLogits``; word shapes are a
        student input, ignored here), float32 on the CPU (counted in ``forward_count``)."""
        logits = self.forward(ids, mask)
        return logits.gather(1, positions.unsqueeze(-1).expand(-1, -1, logits.shape[-1]))

    def predict_tags(self, rows, batch_size: int = 64, progress: bool = True) -> list[list[str]]:
        """Argmax tags per row (word level), in row order (``predict.predict_tags``)."""
        from ..distill.predict import predict_tags
        return predict_tags(self.word_logits, rows, self.labels, "argmax", self.tokenizer.pad_token_id or 0,
                            batch_size, progress, desc="teacher eval")


def is_built(folder: Path, fingerprint: str) -> bool:
    """Whether ``folder`` holds a finished fine-tuned teacher with this fingerprint (its record,
    ``xarchkd_teacher.json``, is the last thing written) whose files pass the checksums it records."""
    return _record(folder).get("fingerprint") == fingerprint and teacher_problem(folder) is None


def _record(folder) -> dict:
    """The fine-tuning record of a teacher folder, or {} (none, or unreadable)."""
    return read_json_object(Path(folder) / INFO_FILE)


def teacher_problem(folder) -> str | None:
    """What is wrong with the files of a teacher fine-tuned here (its record's ``files`` checksums), or None
    (also for a folder without such a record: a teacher made elsewhere)."""
    files = _record(folder).get("files")
    return checksum_problem(folder, files) if isinstance(files, dict) else None


def verify_teacher(folder) -> None:
    """Refuse (``ResourceError``) a teacher fine-tuned here whose files changed since it was saved."""
    problem = teacher_problem(folder) if Path(folder).is_dir() else None
    if problem:
        raise ResourceError(f"teacher at {folder}: {problem}, as {INFO_FILE} records; a damaged copy? Delete the "
                            "folder (a recipe fine-tunes it again) or copy it anew")


def teacher_summary(path: str) -> dict:
    """Name, parameter count, size on disk and recorded F1 of a teacher folder, without loading it (from its
    safetensors headers and its fine-tuning record; ``Teacher.summary`` is this for a loaded teacher)."""
    from safetensors import safe_open
    p = Path(path)
    files = sorted(p.glob("*.safetensors"))
    params = 0
    for f in files:
        with safe_open(str(f), "pt") as st:
            for k in st.keys():
                n = 1
                for d in st.get_slice(k).get_shape():
                    n *= d
                params += n
    info = json.loads((p / INFO_FILE).read_text()) if (p / INFO_FILE).is_file() else {}
    name = f"{info['encoder']} (fine-tuned)" if "encoder" in info else p.name
    return {"name": name, "path": str(p), "params": params,
            "size_mb": round(sum(f.stat().st_size for f in files) / 1e6, 2),
            "f1": info.get("test_f1"), "valid_f1": info.get("valid_f1")}


def input_embeddings(path: str) -> torch.Tensor:
    """The teacher's word-embedding matrix [vocab, d], read straight from its safetensors file."""
    from safetensors import safe_open
    for f in sorted(Path(path).glob("*.safetensors")):
        with safe_open(str(f), "pt") as st:
            for k in st.keys():
                if k.endswith("embeddings.word_embeddings.weight"):
                    return st.get_tensor(k).float()
    raise ResourceError(f"no word_embeddings.weight in the safetensors files of {path}")


def pca_embeddings(matrix: torch.Tensor, dim: int, seed: int = 0) -> torch.Tensor:
    """Reduce the teacher's input embeddings to ``dim`` columns by PCA, scaled to unit variance."""
    torch.manual_seed(seed)
    x = matrix - matrix.mean(0, keepdim=True)
    q = min(dim, min(x.shape))
    _, _, v = torch.pca_lowrank(x, q=q, center=False, niter=4)
    red = x @ v[:, :q]
    if q < dim:  # student wider than the teacher's embedding: pad with small noise
        red = torch.cat([red, 0.01 * torch.randn(len(red), dim - q)], 1)
    return red / red.std()


def publish_teacher(folder: Path, out: Path, record: dict) -> None:
    """Write a teacher made here into place: its record (``INFO_FILE``, with each file's sha256, checked
    whenever the teacher is loaded or reused) goes into ``folder``, which then replaces ``out`` in one rename."""
    record["files"] = file_checksums(folder)
    write_json(folder / INFO_FILE, record)
    publish_dir(folder, out)
