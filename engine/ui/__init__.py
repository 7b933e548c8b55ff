"""`evolve ui`: a local web dashboard over a run directory, an ablation directory or an archive.

Everything it shows is read, on each change, from the files the engine writes (the trace, the
checkpoint, the trial folders, the cassette, the ablation spec and the archive): it keeps no store
of its own. Text from mechanisms and models reaches the page only as JSON, which the page puts into
the DOM as text.
"""
