"""What case services raise: a refusal a handler can read, and "it changed meanwhile"."""

from __future__ import annotations


class CaseActionError(Exception):
    """The action does not apply to the case as it is (say, resolving a resolved case)."""

    def __init__(self, detail: str, *, field: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class CaseChanged(CaseActionError):
    """Someone changed the case after the caller looked at it: nothing was done."""

    def __init__(self, case) -> None:
        last = case.entries.order_by("-at", "-id").first()
        by = f" ({last.actor_name}: {last.get_action_display().lower()})" if last else ""
        super().__init__(f"Case {case.pk} changed meanwhile{by}. Look at it again, then act.")
        self.case = case
