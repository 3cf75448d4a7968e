"""Tasks: the two runners, one a task, each a whole run from a ``RunConfig`` to ``results.json``.

``ner.py`` (``distill_ner``) and ``mlm.py`` (``distill_mlm``) are what the recipes run. Each goes the same
way: ``xarchkd.preflight`` checks the config, then ``xarchkd.data`` makes the rows, ``xarchkd.teachers``
makes (or reuses) the teacher and its logits cache, ``xarchkd.distill`` trains and scores the student, and
the runner writes the student folder and the results.

Only the recipes (``xarchkd.recipe`` runs them) and the command line (``xarchkd.cli``) import a runner; one
runner never imports the other.
"""
