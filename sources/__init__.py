"""Readers of real data: built-in and file tables (`sources.tables`) and images
(`sources.images`). They build on `core` only; a job's source config picks one (`job.real_data`).
"""
