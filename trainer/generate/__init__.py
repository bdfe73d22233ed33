"""Generation: sampling, layout-constrained decoding, classifier-free guidance, the HTML page."""
