"""Emulators of the remote science services (Swift TOO API, UKSSDC XRT product generator).

They are real aiohttp servers that behave like the services, so the daemon and the official
``swifttools`` clients can be pointed at them by changing only a base URL. Both share one
:class:`~autotoo.emulators.sky.Sky` on one :class:`~autotoo.emulators.clock.SimClock`: a TOO
the Swift emulator accepts is scheduled and observed on that clock, and the observed target
becomes data the UKSSDC emulator builds products from.
"""
