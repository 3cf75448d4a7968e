"""Tools: what a user runs on a finished teacher or student, beside the training pipeline.

``serve.py`` is the local web demo (``xarchkd serve``: tag a sentence or fill a mask with a teacher and a
student side by side) and ``bench/`` the CPU latency and size harness (``xarchkd bench``). Both load their
models through ``xarchkd.load`` and predict through ``xarchkd.distill.predict``, on rows from
``xarchkd.data``; only the command line (``xarchkd.cli``) imports them.
"""
