from django.urls import path

from privacy import views

app_name = "privacy"

urlpatterns = [
    path("<slug:slug>/access-log/", views.access_log, name="access-log"),
]
