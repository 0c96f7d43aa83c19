"""The project's URLs before ``include("django_hubs.urls")`` was added: E021."""

from django.urls import path

from tests.channels_project.urls import login_view

urlpatterns = [path("login", login_view)]
