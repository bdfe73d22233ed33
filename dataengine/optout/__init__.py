"""Opt-out: what site owners and users ask us not to use, applied during the crawl and after it.

- ``signals``: page-level ``X-Robots-Tag`` / ``<meta name="robots">`` (``noai``, ``noimageai``)
  and TDMRep ``tdm-reservation``.
- ``lists``: ``OptOutList``, user-supplied URLs and domains.
- ``stage``: the ``optout`` pipeline stage (list matches; images of ``noimageai`` pages).
- ``rewrite`` and ``commands``: ``dataengine optout CORPUS LIST``, which rewrites the shards of a
  corpus without the listed documents and images and records what it removed.
"""

from dataengine.optout.lists import OptOutList
from dataengine.optout.signals import PageOptOut, page_optout

__all__ = ["OptOutList", "PageOptOut", "page_optout"]
