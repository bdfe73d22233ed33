"""Document images: fetching their bytes and describing them."""
