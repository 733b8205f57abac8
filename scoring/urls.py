from django.urls import path

from . import views

app_name = "scoring"

urlpatterns = [
    path("models/<modelref:ref>/outcome-weights/", views.model_weights, name="model-weights"),
    path("models/<modelref:ref>/outcome-weights/preview/", views.model_weights_preview, name="model-weights-preview"),
    path("models/<modelref:ref>/try/", views.model_try, name="model-try"),
    path("models/<modelref:ref>/try/<str:request_id>/feedback/", views.score_feedback, name="score-feedback"),
    path("models/<modelref:ref>/adaptations/", views.model_adaptations, name="model-adaptations"),
    path("models/<modelref:ref>/reset-learning/", views.model_reset_learning, name="model-reset-learning"),
    path("models/<modelref:ref>/shadow/", views.model_shadow, name="model-shadow"),
    path("traces/", views.trace_list, name="trace-list"),
    path("traces/<str:ref>/", views.trace_detail, name="trace-detail"),
    path("catalog/", views.catalog, name="catalog"),
    path("catalog/<str:kind>/new/", views.catalog_create, name="catalog-create"),
    path("catalog/<str:kind>/<key:key>/edit/", views.catalog_edit, name="catalog-edit"),
]
