from chat import views
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", views.index, name="index"),
    path("admin/", admin.site.urls),
    path("", include("django_hubs.urls")),  # negotiate and the HTTP transports of every hub
]
