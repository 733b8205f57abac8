import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# The URL patterns import every view, serializer and the libraries they use: loaded now, they are frozen too.
_patterns = get_resolver().url_patterns

# Everything loaded so far (Django, the apps, numpy, scikit-learn) lives as long as the process: moved out of
# the collector's generations, a full collection no longer walks it. A batch score of 10,000 rows allocates
# enough to trigger several: in-process this halved its time (docs/BENCHMARKS.md, issue 16).
# GC_FREEZE=0 leaves them in (to measure the difference).
if os.environ.get("GC_FREEZE", "1") != "0":
    gc.freeze()
