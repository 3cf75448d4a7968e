"""Data: from files to the rows and batches a teacher or student reads.

The flow, one module a step:

- ``resources.py`` fetches the named data sets, teachers and text once (into ``$XARCHKD_HOME``);
- ``ner_data.py`` reads labelled CoNLL files and turns their words into sub-word rows (``Rows``), ``text.py``
  splits plain text into sentences and words, ``names.py`` is the person and place gazetteer, ``mlm_data.py``
  turns a corpus into masked-LM rows;
- ``transfer.py`` adds teacher-labelled transfer rows (augmentation, text, CoNLL words, a corpus), and a
  corpus of any size goes through ``corpus.py`` into the on-disk ``rowstore.py`` (``memmaps.py``: pages
  dropped, arrays appended);
- ``batching.py`` pads and length-sorts rows into batches, ``disk_examples.py`` is a NER run's training
  dataset (rows in memory or on disk, with their teacher caches); ``spans.py`` reads entity spans from
  tags; ``subset.py`` splits off a few-labels data folder; ``fingerprint.py`` hashes files, arrays and
  settings (the keys of caches, row stores and teachers).

These modules import each other, ``errors``, ``atomic`` and ``students``; nothing above them (teachers,
distill, tasks, tools).
"""
