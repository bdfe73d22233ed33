"""Stages: small classes that map a batch of documents to a batch (see ``base.Stage``)."""
