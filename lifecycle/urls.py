from django.urls import path

from . import views

app_name = "lifecycle"

urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/runs/", views.home_runs, name="home-runs"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/new/", views.token_create, name="token-create"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="token-revoke"),
    path("webhooks/", views.webhook_list, name="webhook-list"),
    path("webhooks/new/", views.webhook_create, name="webhook-create"),
    path("webhooks/<int:pk>/edit/", views.webhook_edit, name="webhook-edit"),
    path("webhooks/<int:pk>/delete/", views.webhook_delete, name="webhook-delete"),
    path("webhooks/<int:pk>/test/", views.webhook_test, name="webhook-test"),
    path("models/", views.model_list, name="model-list"),
    path("models/new/", views.model_create, name="model-create"),
    path("models/<modelref:ref>/", views.model_detail, name="model-detail"),
    path("models/<modelref:ref>/compare/", views.version_compare, name="version-compare"),
    path("models/<modelref:ref>/progress/", views.model_progress, name="model-progress"),
    path("models/<modelref:ref>/edit/", views.model_edit, name="model-edit"),
    path("models/<modelref:ref>/traits/", views.trait_add, name="trait-add"),
    path("models/<modelref:ref>/traits/<str:key>/delete/", views.trait_remove, name="trait-delete"),
    path("models/<modelref:ref>/runs/", views.run_list, name="run-list"),
    path("models/<modelref:ref>/runs/<int:run_id>/", views.run_detail, name="run-detail"),
    path("models/<modelref:ref>/versions/", views.version_list, name="version-list"),
    # One address: GET lists the samples, POST adds one. Two names, so the add form keeps its own.
    path("models/<modelref:ref>/samples/", views.samples, name="sample-list"),
    path("models/<modelref:ref>/samples/", views.samples, name="sample-add"),
    path("models/<modelref:ref>/samples/upload/", views.sample_upload, name="sample-upload"),
    path("models/<modelref:ref>/samples/remove/", views.sample_remove, name="sample-remove"),
    path("models/<modelref:ref>/train/", views.model_train, name="model-train"),
    path("models/<modelref:ref>/discover/", views.model_discover, name="model-discover"),
    path("models/<modelref:ref>/archive/", views.model_archive, name="model-archive"),
    path("models/<modelref:ref>/restore/", views.model_restore, name="model-restore"),
    path("models/<modelref:ref>/unpin/", views.model_unpin, name="model-unpin"),
    path("models/<modelref:ref>/learning/", views.model_cadence, name="model-cadence"),
    path("models/<modelref:ref>/versions/<int:version_no>/", views.version_detail, name="version-detail"),
    path("models/<modelref:ref>/versions/<int:version_no>/notes/", views.version_notes, name="version-notes"),
    path("models/<modelref:ref>/versions/<int:version_no>/card.<str:fmt>", views.version_card, name="version-card"),
    path("models/<modelref:ref>/versions/<int:version_no>/artifact/", views.version_artifact, name="version-artifact"),
    path("models/<modelref:ref>/versions/<int:version_no>/activate/", views.version_activate, name="version-activate"),
    path("models/<modelref:ref>/versions/<int:version_no>/tag/", views.version_tag, name="version-tag"),
]
