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


class KeysetLimitOffsetPagination(LimitOffsetPagination):
    """limit/offset as every list, and also by keyset: every answer has `nextCursor`, a link to the rows after its
    last one (`?cursor=...&limit=...`, no offset), so walking a long list costs the same at any depth. A cursor
    answer has `previous` null, since a keyset walk goes one way. A cursor that is not one is a 400 naming it.
    `keyset_field` and `keyset_descending` must match the queryset's own ordering (then the primary key)."""

    cursor_query_param = "cursor"
    keyset_field = "created_at"
    keyset_descending = True

    def _sort(self):
        from lifecycle.core.listing import Sort, SortBy

        return Sort(self.keyset_field, self.keyset_descending), SortBy(self.keyset_field, self.keyset_field)

    def paginate_queryset(self, queryset, request, view=None):
        from lifecycle.core.listing import decode_cursor, keyset_window

        self.request, self.next_cursor = request, ""
        raw = request.query_params.get(self.cursor_query_param, "")
        if raw == "":
            rows = super().paginate_queryset(queryset, request, view)
            if rows and self.offset + self.limit < self.count:
                self.next_cursor = self._cursor(rows[-1])
            return rows
        if self.offset_query_param in request.query_params:
            raise serializers.ValidationError({self.cursor_query_param: ["Give a cursor or an offset, not both."]})
        sort, spec = self._sort()
        if decode_cursor(raw, sort, queryset.model, self.keyset_field) is None:
            message = "Not a cursor of this list: use the nextCursor link of a previous answer."
            raise serializers.ValidationError({self.cursor_query_param: [message]})
        self.limit, self.offset = self.get_limit(request), None
        self.count = self.get_count(queryset)
        rows, self.next_cursor, _ = keyset_window(queryset, sort=sort, spec=spec, after=raw, per_page=self.limit)
        return rows

    def _cursor(self, row) -> str:
        from lifecycle.core.listing import encode_cursor

        return encode_cursor(self._sort()[0], getattr(row, self.keyset_field), row.pk)

    def _cursor_link(self):
        if not self.next_cursor:
            return None
        from rest_framework.utils.urls import remove_query_param, replace_query_param

        url = remove_query_param(self.request.build_absolute_uri(), self.offset_query_param)
        url = replace_query_param(url, self.limit_query_param, self.limit)
        return replace_query_param(url, self.cursor_query_param, self.next_cursor)

    def get_paginated_response(self, data):
        from rest_framework.response import Response

        keyset = self.offset is None
        return Response({"count": self.count,
                         "next": self._cursor_link() if keyset else self.get_next_link(),
                         "previous": None if keyset else self.get_previous_link(),
                         "nextCursor": self._cursor_link(), "results": data})

    def get_schema_operation_parameters(self, view):
        return [*super().get_schema_operation_parameters(view), {
            "name": self.cursor_query_param, "required": False, "in": "query",
            "description": "Continue after the last row of a previous answer: its nextCursor link (no offset).",
            "schema": {"type": "string"}}]

    def get_paginated_response_schema(self, schema):
        out = super().get_paginated_response_schema(schema)
        out["required"].append("nextCursor")
        out["properties"]["nextCursor"] = {"type": ["string", "null"], "format": "uri",
                                           "description": "the rows after this answer's last, by keyset"}
        return out
