"""The benchmark suite: django-hubs and its peers under the same load (see README.md)."""
