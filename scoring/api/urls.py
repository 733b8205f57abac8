from django.urls import re_path

from lifecycle.api.urls import OptionalSlashRouter

from . import views

router = OptionalSlashRouter()
router.register("decision-traces", views.DecisionTraceViewSet, basename="decision-trace")
router.register("offers", views.OfferViewSet, basename="offer")
router.register("categories", views.CategoryViewSet, basename="category")
router.register("channels", views.ChannelViewSet, basename="channel")
router.register("outcome-types", views.OutcomeTypeViewSet, basename="outcome-type")
router.register("decision-flows", views.DecisionFlowViewSet, basename="decision-flow")
router.register("suppression-rules", views.SuppressionRuleViewSet, basename="suppression-rule")
router.register("contact-policies", views.ContactPolicyViewSet, basename="contact-policy")
router.register("creatives", views.CreativeViewSet, basename="creative")

urlpatterns = [
    re_path(r"^algorithm-models/(?P<pk>[^/]+)/score/?$", views.ScoreView.as_view(), name="model-score"),
    re_path(r"^algorithm-models/(?P<pk>[^/]+)/adaptations/?$", views.AdaptationsView.as_view(),
            name="model-adaptations"),
    re_path(r"^algorithm-models/(?P<pk>[^/]+)/reset-learning/?$", views.ResetLearningView.as_view(),
            name="model-reset-learning"),
    re_path(r"^score-requests/(?P<request_id>[^/]+)/feedback/?$", views.FeedbackView.as_view(),
            name="score-feedback"),
    re_path(r"^recommend/?$", views.RecommendView.as_view(), name="recommend"),
    re_path(r"^respond/?$", views.RespondView.as_view(), name="respond"),
    *router.urls,
]
