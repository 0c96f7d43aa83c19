"""The servers django-hubs is compared with, each doing the bench hub's work."""
