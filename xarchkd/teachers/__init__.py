"""Teachers: the model a student learns from, and its outputs computed once.

The flow: ``finetune.py`` makes a teacher folder from an encoder and the data's train split (NER or
masked-LM, reused by fingerprint); ``teacher.py`` is the ``Teacher`` that runs such a folder (loaded by
``xarchkd.load``) and the folder's record and checksums; ``cache.py`` runs the teacher over a run's rows
once and keeps its logits on disk, where every later run reads them, and ``shards.py`` splits one cache
build among the processes of an ``accelerate launch``.

These modules read rows from ``xarchkd.data`` and use ``xarchkd.distill`` for the device, precision and
scoring a fine-tune shares with student training; the runners in ``xarchkd.tasks`` call them.
"""
