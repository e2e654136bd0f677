from django.urls import path

from routing import views

app_name = "routing"

urlpatterns = [
    path("", views.rule_list, name="rule-list"),
    path("new/", views.rule_edit, name="rule-new"),
    path("new/dry-run/", views.rule_dry_run_view, name="rule-new-dry-run"),
    path("<int:pk>/", views.rule_edit, name="rule-edit"),
    path("<int:pk>/dry-run/", views.rule_dry_run_view, name="rule-dry-run"),
]
