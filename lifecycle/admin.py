from django.contrib import admin

from .models import AlgorithmModel, ModelEvent, ModelVersion, TrainingRun


@admin.register(AlgorithmModel)
class AlgorithmModelAdmin(admin.ModelAdmin):
    list_display = ("key", "name", "model_type", "state", "status", "registry_status", "family")
    list_filter = ("state", "status", "registry_status", "model_type")
    search_fields = ("key", "name")

    def has_change_permission(self, request, obj=None):
        return False  # changes go through the product's services, which audit them

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ("id", "model", "kind", "status", "progress", "queued_at", "finished_at")
    list_filter = ("status", "kind")

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ModelEvent)
class ModelEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "model_key", "actor_name", "action", "from_value", "to_value")
    list_filter = ("action",)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


admin.site.register(ModelVersion)
