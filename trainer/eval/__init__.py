"""Evaluation: held-out loss, the sample-web ground-truth judge, ILScore-style interleaved report."""
