"""Distillation: a student trained on batches of rows and teacher outputs, then scored.

The flow: ``train.py`` is the training loop -- batches in, ``loss.py``'s objective (its weights:
``xarchkd.loss_config``, torch-free), optimizer steps, checkpoints (``upload.py`` can push each to S3) -- on the
one ``Accelerator`` of ``accel.py`` (devices, precision, autocast; a teacher's fine-tune runs on it too);
``predict.py`` runs any model over rows (word tags, masked-LM logits), ``decode.py`` turns word scores
into tags, and ``metrics.py`` scores the predictions.

These modules read rows and batches from ``xarchkd.data`` and settings from ``xarchkd.config``; they know
nothing of teachers or runners (``xarchkd.teachers`` and ``xarchkd.tasks`` call them).
"""
