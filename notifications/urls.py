from django.urls import path

from notifications import views

app_name = "notifications"

urlpatterns = [
    path("", views.notification_list, name="list"),
    path("<int:pk>/", views.notification_open, name="open"),
    path("count/", views.notification_count, name="count"),
    path("read-all/", views.notifications_read_all, name="read-all"),
    path("settings/", views.notification_settings, name="settings"),
]
