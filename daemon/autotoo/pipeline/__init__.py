"""The automation pipeline: inbox -> parse -> group -> evaluate -> plan -> submit -> track ->
retrieve -> publish, every step durable in the store and resumable after ``kill -9``.

This package is core: it talks to the outside only through the ports in :mod:`.ports`, which
adapters (``autotoo.adapters``) implement on top of the Swift, UKSSDC, MQTT and webhook clients.
"""
