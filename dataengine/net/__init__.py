"""Network rules shared by everything that fetches (the crawler, image fetching, the sitemap source)."""
