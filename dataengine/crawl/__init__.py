"""The polite crawler: seeds or a sitemap in, WARC batches of pages out (source kind ``crawl``).

- ``urls``: canonical URLs (one spelling per page), origins and sites.
- ``scope``: ``ScopeConfig`` (same site, allow/deny, max depth, max pages) and ``Scope``.
- ``frontier``: admitted URLs, deduplicated, queued per origin.
- ``politeness``: ``PolitenessConfig`` and the per-host ``HostGate`` (concurrency, spacing).
- ``robots``: robots.txt fetched once per origin, cached on disk, obeyed (read by ``dataengine.net.robots``).
- ``fetch``: ``FetchConfig`` and one GET with timeouts, retries, Retry-After, size and time limits.
- ``links``: links of a page.
- ``archive``: WARC batches and their fetch logs (``Outcome``), recovery after a kill.
- ``worker``: ``FetchWorker``, the Ray actor that makes every request to the origins it owns.
- ``state``: the state folder a crawl resumes from.
- ``crawler``: ``Crawler``, the driver loop.
- ``source``: ``CrawlSource``, the pipeline's ``crawl`` source.

Opt-out signals and lists live in ``dataengine.optout`` (which uses ``urls`` and ``links``, so this
``__init__`` imports nothing: either package can be imported first).
"""

