"""Document images: fetching their bytes (politely), checking them and resizing them."""

import os

# img2dataset imports albumentations, which asks PyPI for a newer version on import unless told not to.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
