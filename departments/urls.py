from django.urls import path

from departments import views

app_name = "departments"

urlpatterns = [
    path("", views.home, name="home"),
    path("queue/<slug:slug>/", views.queue, name="queue"),
    path("queue/<slug:slug>/bulk/", views.queue_bulk, name="queue-bulk"),
    path("triage/", views.triage, name="triage"),
    path("triage/act/", views.triage_act, name="triage-act"),
    path("items/<int:pk>/", views.item_detail, name="item"),
    path("items/<int:pk>/presence/", views.item_presence, name="item-presence"),
    path("items/<int:pk>/note/", views.item_note, name="item-note"),
    path("items/<int:pk>/route/", views.triage_route, name="triage-route"),
    path("cases/<int:pk>/claim/", views.case_claim, name="case-claim"),
    path("cases/<int:pk>/assign/", views.case_assign, name="case-assign"),
    path("cases/<int:pk>/status/", views.case_status, name="case-status"),
    path("cases/<int:pk>/priority/", views.case_priority, name="case-priority"),
    path("cases/<int:pk>/reroute/", views.case_reroute, name="case-reroute"),
    path("cases/<int:pk>/share/", views.case_share, name="case-share"),
    path("cases/<int:pk>/tags/", views.case_tags, name="case-tags"),
    path("undo/<int:token>/", views.action_undo, name="action-undo"),
    path("views/save/", views.saved_view_save, name="view-save"),
    path("views/<int:pk>/delete/", views.saved_view_delete, name="view-delete"),
]
