"""The writes of the registry's pages: the permission, what it does and who may. The same words explain a
disabled button (`refusal`) and the 403 (`requires`)."""

from lifecycle.core.views import Write

OPERATE = Write("lifecycle.change_algorithmmodel", "change a model's status, learning cadence or outcome weights",
                "analysts and admins")
TRAIN = Write("lifecycle.train_algorithmmodel", "train models", "analysts and admins")
PROMOTE = Write("registry.promote_model", "move models on the registry ladder", "analysts and admins")
REVIEW = Write("registry.review_promotionrequest", "approve or reject promotion requests", "reviewers and admins")
ROLLBACK = Write("registry.rollback_family", "roll a family back or change its live-watch policy", "reviewers and admins")
EXPERIMENT_ADD = Write("registry.add_experiment", "create experiments", "analysts and admins")
EXPERIMENT_CHANGE = Write("registry.change_experiment", "change, start or stop experiments", "analysts and admins")
EXPERIMENT_DELETE = Write("registry.delete_experiment", "delete experiments", "analysts and admins")
