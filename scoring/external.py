"""Scores from an operator's HTTP endpoint: allow-listed hosts only, a timeout, failures reported."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from django.conf import settings


class EndpointError(Exception):
    pass


def predict(params: dict, inputs: list[dict]) -> dict[str, list[float]]:
    """POST {"inputs": [...]} and expect {"scores": [{trait: probability}, ...]} in the same order."""
    host = urlsplit(params["url"]).hostname
    if host not in set(settings.EXTERNAL_ENDPOINT_ALLOWED_HOSTS):
        raise EndpointError(f"host {host!r} is no longer allowed (EXTERNAL_ENDPOINT_ALLOWED_HOSTS)")
    body = json.dumps({"inputs": inputs}).encode()
    request = urllib.request.Request(params["url"], data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=params["timeoutMs"] / 1000) as response:
            payload = json.loads(response.read(5_000_000))
    except urllib.error.HTTPError as exc:
        raise EndpointError(f"the endpoint answered {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise EndpointError(f"the endpoint did not answer in {params['timeoutMs']} ms: "
                            f"{getattr(exc, 'reason', exc)}") from None
    except json.JSONDecodeError:
        raise EndpointError("the endpoint did not answer JSON") from None
    rows = payload.get("scores") if isinstance(payload, dict) else None
    if not isinstance(rows, list) or len(rows) != len(inputs):
        raise EndpointError("the endpoint must answer {\"scores\": [...]} with one entry per input")
    out: dict[str, list[float]] = {t: [] for t in params["traits"]}
    for row in rows:
        for trait in params["traits"]:
            value = row.get(trait) if isinstance(row, dict) else None
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise EndpointError(f"the endpoint's score for {trait!r} must be a probability in [0, 1]")
            out[trait].append(float(value))
    return out
