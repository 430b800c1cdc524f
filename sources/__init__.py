"""Readers of real data: built-in and file tables (`sources.tables`) and images
(`sources.images`), and the job's `source:` block (`sources.config`). They build on `core` only;
a modality plugin (`modalities`) picks the reader for a job's kind of data.
"""
