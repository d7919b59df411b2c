"""Helpers shared by the test modules: no test module imports from another.

- ``clock``: the one ``FakeClock``;
- ``http``: ``LocalServer`` (a real HTTP server on 127.0.0.1), ``Request``, ``Response``;
- ``news``: invented wire copy, feeds and the local news ``Site``;
- ``pipeline``: the engine fixtures (``clock``, ``site``, ``publisher``, ``engine``);
- ``render``: sample briefings and the checks every rendered payload must pass;
- ``service``: a real ``signaldesk`` process against local servers (the ``slow`` tests).
"""
