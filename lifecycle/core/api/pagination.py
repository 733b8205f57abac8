"""limit/offset paging for every API list. A limit or offset that is not a whole number in range (`limit=null`,
`limit=0`, `offset=-1`) is a 400 naming the parameter, never a silent default; the schema declares the ranges."""

from rest_framework import pagination, serializers


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    default_limit = 50
    max_limit = 250
    # True: a limit over max_limit is refused (a caller paging by it would skip rows); False: it is cut to max_limit.
    refuse_over_max = False

    def _whole(self, request, name: str, default: int, **bounds) -> int:
        raw = request.query_params.get(name, "")
        if raw == "":
            return default
        try:
            return serializers.IntegerField(**bounds).run_validation(raw)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({name: exc.detail}) from None

    def get_limit(self, request):
        if self.refuse_over_max:
            return self._whole(request, self.limit_query_param, self.default_limit, min_value=1,
                               max_value=self.max_limit)
        return min(self._whole(request, self.limit_query_param, self.default_limit, min_value=1), self.max_limit)

    def get_offset(self, request):
        return self._whole(request, self.offset_query_param, 0, min_value=0)

    def get_schema_operation_parameters(self, view):
        limit, offset = super().get_schema_operation_parameters(view)
        limit["schema"] = {"type": "integer", "minimum": 1, "default": self.default_limit,
                           **({"maximum": self.max_limit} if self.refuse_over_max else {})}
        offset["schema"] = {"type": "integer", "minimum": 0, "default": 0}
        return [limit, offset]

    def get_paginated_response_schema(self, schema):
        link = {"type": ["string", "null"], "format": "uri"}
        return {"type": "object", "required": ["count", "next", "previous", "results"],
                "properties": {"count": {"type": "integer", "minimum": 0}, "next": link, "previous": link,
                               "results": schema}}
