"""Ingestion: feed list -> fetch -> parse -> normalize -> `news.raw`."""
