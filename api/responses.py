"""Response models (the JSON envelope and its payloads) and how views render them."""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from aiohttp import web
from pydantic import BaseModel, Field

from db.models import AuditEvent, Payment, Plan, User, VPNKey
from domain.links.signing import LinkSigner, dynamic_url


class FieldError(BaseModel):
    """One rejected input field."""

    field: str = Field(description="dotted path of the field, e.g. `user.id`; empty for the body")
    message: str


class Envelope(BaseModel):
    """Every response carries the HTTP status and a human-readable sentence."""

    status: int = Field(description="the HTTP status, repeated")
    details: str


class ErrorEnvelope(Envelope):
    """An error; `errors` lists the rejected fields of a 400."""

    errors: list[FieldError] | None = None


class UserOut(BaseModel):
    """A Telegram user."""

    id: int
    first_name: str | None
    last_name: str | None
    username: str | None
    language_code: str | None
    has_demo: bool = Field(description="the user has received their one demo key")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, user: User) -> "UserOut":
        """The JSON view of a user row."""
        return cls(
            id=user.id,
            first_name=user.first_name,
            last_name=user.last_name,
            username=user.username,
            language_code=user.language_code,
            has_demo=user.has_demo,
            created_at=_utc(user.created_at),
            updated_at=_utc(user.updated_at),
        )


class KeyOut(BaseModel):
    """A VPN access key ("token")."""

    id: int
    server: str = Field(description="server name (`srv_name`)")
    tg_id: int | None = Field(description="owner's Telegram id; null when unbound")
    name: str
    access_url: str = Field(description="the `ss://` URL to paste into an Outline client")
    dynamic_url: str | None = Field(
        description="the key's `ssconf://` dynamic link (follows the key across servers); "
        "null when the service has no PUBLIC_URL"
    )
    is_active: bool
    inactive_reason: Literal["manual", "expired", "traffic"] | None
    is_demo: bool
    valid_until: datetime | None = Field(description="UTC; the key stops at this instant")
    traffic_limit: int | None = Field(description="bytes over the key's life; null = unlimited")
    traffic_used: int = Field(description="bytes used, carried over refreshes")
    previous_id: int | None = Field(description="the key this one replaced")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, key: VPNKey, links: LinkSigner | None = None) -> "KeyOut":
        """The JSON view of a key row (its `server` must be loaded)."""
        return cls(
            id=key.id,
            server=key.server.name,
            tg_id=key.owner_id,
            name=key.name,
            access_url=key.access_url or "",
            dynamic_url=dynamic_url(links, key),
            is_active=key.is_active,
            inactive_reason=key.inactive_reason.value if key.inactive_reason else None,
            is_demo=key.is_demo,
            valid_until=_utc(key.valid_until) if key.valid_until else None,
            traffic_limit=key.traffic_limit,
            traffic_used=key.traffic_used,
            previous_id=key.previous_id,
            created_at=_utc(key.created_at),
            updated_at=_utc(key.updated_at),
        )


class UserEnvelope(Envelope):
    user: UserOut


class KeysEnvelope(Envelope):
    vpn_keys: list[KeyOut]


class ServerState(BaseModel):
    """One server as the readiness check saw it (never its URL)."""

    name: str
    reachable: bool
    latency_ms: float | None
    error: str | None


class ReadyEnvelope(Envelope):
    database: Literal["ok", "unavailable"]
    servers: list[ServerState]


class AuditEventOut(BaseModel):
    """One recorded change: who did what to which key or user."""

    id: int
    at: datetime
    actor: str = Field(description="`api:<token name>`, `tg:<user id>`, `worker` or `cli`")
    action: str = Field(description="e.g. `key.created`, `key.disabled`, `user.updated`")
    key_id: int | None
    tg_id: int | None
    details: dict[str, Any] | list[Any]

    @classmethod
    def of(cls, event: AuditEvent) -> "AuditEventOut":
        """The JSON view of an audit row."""
        return cls(
            id=event.id,
            at=_utc(event.at),
            actor=event.actor,
            action=event.action,
            key_id=event.key_id,
            tg_id=event.user_id,
            details=event.details,
        )


class AuditEnvelope(Envelope):
    events: list[AuditEventOut] = Field(description="newest first")
    next_before: int | None = Field(
        description="pass as `before` for the next page; null on the last page"
    )


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def json_response(data: Any, status: int = 200) -> web.Response:
    """``data`` as a JSON response; orjson is the API's one encoder (datetimes in UTC as
    ``…Z``, exactly as the response models document them)."""
    body = orjson.dumps(data, option=orjson.OPT_UTC_Z)
    return web.Response(body=body, status=status, content_type="application/json", charset="utf-8")


def reply(model: Envelope) -> web.Response:
    """The JSON response for an envelope, with its `status` as the HTTP status."""
    return json_response(
        model.model_dump(exclude_none=isinstance(model, ErrorEnvelope)), model.status
    )


def user_reply(user: User | Mapping[str, Any], details: str) -> web.Response:
    """`{"user": …}` with status 200, from a model or from a row of `users.user_row`."""
    shown = UserOut.of(user).model_dump() if isinstance(user, User) else user
    return json_response({"status": 200, "details": details, "user": shown})


def keys_reply(
    keys: list[VPNKey] | list[dict[str, Any]],
    details: str,
    status: int = 200,
    *,
    links: LinkSigner | None = None,
) -> web.Response:
    """`{"vpn_keys": […]}`, from models or from rows of `issuing.user_key_rows`; ``links``
    (the context's signer) fills in a model's `dynamic_url`."""
    shown = [
        KeyOut.of(key, links).model_dump() if isinstance(key, VPNKey) else key for key in keys
    ]
    return json_response({"status": status, "details": details, "vpn_keys": shown}, status)


class PlanOut(BaseModel):
    """A plan the operator sells (or sold: `is_active` false means retired)."""

    id: int
    name_en: str
    name_ru: str
    days: int
    traffic_limit: int | None = Field(description="bytes; null = unlimited")
    traffic_reset: Literal["no_reset", "monthly"]
    price_stars: int = Field(description="price in Telegram Stars (XTR)")
    servers: list[int] = Field(description="ids of the servers of new keys; empty = any")
    recurring: bool = Field(description="a 30-day Telegram Star subscription")
    is_active: bool

    @classmethod
    def of(cls, plan: Plan) -> "PlanOut":
        """The JSON view of a plan row."""
        return cls(
            id=plan.id,
            name_en=plan.name_en,
            name_ru=plan.name_ru,
            days=plan.days,
            traffic_limit=plan.traffic_limit,
            traffic_reset=plan.traffic_reset.value,
            price_stars=plan.price_stars,
            servers=list(plan.server_ids),
            recurring=plan.recurring,
            is_active=plan.is_active,
        )


class PaymentOut(BaseModel):
    """One Telegram Stars payment."""

    id: int
    tg_id: int
    plan_id: int
    key_id: int | None = Field(description="the key it extended or created")
    amount: int = Field(description="Telegram Stars")
    currency: Literal["XTR"]
    telegram_payment_charge_id: str
    is_recurring: bool
    days: int
    state: Literal["received", "applied", "refunding", "refunded"]
    paid_at: datetime
    refunded_at: datetime | None

    @classmethod
    def of(cls, payment: Payment) -> "PaymentOut":
        """The JSON view of a payment row (its order must be loaded)."""
        return cls(
            id=payment.id,
            tg_id=payment.user_id,
            plan_id=payment.order.plan_id,
            key_id=payment.key_id,
            amount=payment.amount,
            currency="XTR",
            telegram_payment_charge_id=payment.telegram_payment_charge_id,
            is_recurring=payment.is_recurring,
            days=payment.days,
            state=payment.state.value,
            paid_at=_utc(payment.paid_at),
            refunded_at=_utc(payment.refunded_at) if payment.refunded_at else None,
        )


class PlansEnvelope(Envelope):
    plans: list[PlanOut]


class PaymentsEnvelope(Envelope):
    payments: list[PaymentOut]


def payments_reply(found: list[Payment], details: str) -> web.Response:
    """`{"payments": […]}` with status 200."""
    payload = [PaymentOut.of(p) for p in found]
    return reply(PaymentsEnvelope(status=200, details=details, payments=payload))
