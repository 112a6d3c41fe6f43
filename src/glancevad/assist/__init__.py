"""Model-assisted glancing: where the model says to look, and which videos to glance next.

``peaks`` (the model's predicted events, the ones no glance covers yet, jump targets),
``seek`` (frames a simulated annotator watches, linear playback vs jumping to peaks),
``ranking`` (active selection of the abnormal videos to glance next), ``scoring`` (scores of a
checkpoint on a dataset or a feature folder, for ``glancevad propose`` and ``select``) and
``provider`` (the annotation page's scores, extracted in a background worker when needed).
"""
