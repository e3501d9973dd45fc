"""What a UKSSDC XRT product request is: the parameter catalogue, the request builder, its
load-time check and the protocol's errors. Pure (no I/O), so that the rules can check a rule's
XRT request at load without importing the HTTP client: ``autotoo.ukssdc`` sends these
requests, ``autotoo.rules`` checks against the same table (one list of parameters).
"""
