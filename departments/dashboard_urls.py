from django.urls import path

from departments import dashboards

app_name = "dashboards"

urlpatterns = [
    path("", dashboards.overview, name="overview"),
    path("handoffs/", dashboards.handoffs, name="handoffs"),
    path("quality/", dashboards.quality, name="quality"),
    path("items/", dashboards.items, name="items"),
    path("export.csv", dashboards.export, name="export"),
    path("<slug:slug>/", dashboards.department, name="department"),
]
