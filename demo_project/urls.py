from django.contrib import admin
from django.urls import include, path
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

urlpatterns = [
    path("admin/", admin.site.urls),
    # The page trades the user's password for a JWT pair here, and refreshes the access token.
    path("api/token/", TokenObtainPairView.as_view(), name="token_obtain_pair"),
    path("api/token/refresh/", TokenRefreshView.as_view(), name="token_refresh"),
    path("", include("demo_project.chat.urls")),
    path("", include("django_hubs.urls")),  # negotiate and the HTTP transports of the hubs
]
