"""Adapters: the real clients narrowed to the pipeline's ports (``autotoo.pipeline.ports``).

Each adapter translates its client's exception hierarchy into the ports' taxonomy, so that
the retry rules live once, in the pipeline, and the clients stay usable as plain libraries.
"""
