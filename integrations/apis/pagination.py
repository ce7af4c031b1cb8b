from rest_framework.pagination import CursorPagination


class NewestFirst(CursorPagination):
    """Stable cursor pages over a growing table: newest rows first, by primary key."""

    ordering = "-id"
