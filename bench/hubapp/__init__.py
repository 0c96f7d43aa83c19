"""A Django project with one bench hub and one hand-written Channels consumer doing the same work."""
