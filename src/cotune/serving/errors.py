"""The one exception the server's own code raises to answer a request with an error."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """Answered as `status` with {"error": {"type": ..., "message": ..., **extra}}."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status, self.type, self.message = status, type_, message
        self.headers, self.extra = headers, extra


def limit_exceeded(limit: str, value: float, maximum: float, what: str) -> ApiError:
    """413 naming the setting, its value and what the request had."""
    return ApiError(
        413,
        limit,
        f"{what}: {_number(value)} exceeds {limit}={_number(maximum)}",
        limit=limit,
        max=maximum,
        value=value,
    )


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"
