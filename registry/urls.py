from django.urls import path

from . import views

app_name = "registry"

urlpatterns = [
    path("models/<modelref:ref>/status/", views.model_status, name="model-status"),
    path("models/<modelref:ref>/promote/", views.model_promote, name="model-promote"),
    path("models/<modelref:ref>/guard/", views.model_guard, name="model-guard"),
    path("changes/", views.changes, name="changes"),
    path("reviews/", views.review_queue, name="review-queue"),
    path("reviews/count/", views.review_count, name="review-count"),
    path("reviews/<int:pk>/", views.request_detail, name="request-detail"),
    path("reviews/<int:pk>/approve/", views.request_approve, name="request-approve"),
    path("reviews/<int:pk>/reject/", views.request_reject, name="request-reject"),
    path("reviews/<int:pk>/cancel/", views.request_cancel, name="request-cancel"),
    path("families/", views.family_list, name="family-list"),
    path("families/<key:family>/", views.family_detail, name="family-detail"),
    path("families/<key:family>/compare/", views.family_compare, name="family-compare"),
    path("families/<key:family>/rollback/", views.family_rollback, name="family-rollback"),
    path("families/<key:family>/policy/", views.family_policy, name="family-policy"),
    path("families/<key:family>/version-policy/", views.family_version_policy, name="family-version-policy"),
    path("families/<key:family>/experiments/new/", views.experiment_create, name="experiment-create"),
    path("experiments/<key:ref>/", views.experiment_detail, name="experiment-detail"),
    path("experiments/<key:ref>/edit/", views.experiment_edit, name="experiment-edit"),
    path("experiments/<key:ref>/status/", views.experiment_status, name="experiment-status"),
    path("experiments/<key:ref>/delete/", views.experiment_delete, name="experiment-delete"),
    path("audit/", views.audit_log, name="audit-log"),
    path("audit/export.csv", views.audit_export, name="audit-export"),
]
