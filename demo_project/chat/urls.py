from django.urls import path

from . import views

urlpatterns = [
    path("", views.chat, name="chat"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("staff/", views.staff, name="staff"),
]
