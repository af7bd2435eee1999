"""Request models: path parameters and JSON bodies, validated strictly (no type coercion)."""

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, RootModel, model_validator

from api.fields import (
    Bytes,
    Days,
    KeyId,
    KeyName,
    Moment,
    PaymentId,
    ServerName,
    TgId,
    ValidUntil,
    text,
)

STRICT = ConfigDict(strict=True, regex_engine="python-re", extra="forbid")


def example(*bodies: dict[str, Any]) -> dict[str, Any]:
    """`examples` for a body's JSON schema (shown by Swagger UI, sent by schemathesis)."""
    return {"examples": list(bodies)}


def _no_default(schema: dict[str, Any]) -> None:
    """Hide a `None` default that only marks a field as optional."""
    schema.pop("default", None)


class Body(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = STRICT


# --- path parameters --------------------------------------------------------------------


class UserPath(Body):
    tg_id: TgId


class UserServerPath(Body):
    tg_id: TgId
    srv_name: ServerName


class ServerPath(Body):
    srv_name: ServerName


class DemoPath(Body):
    """`vpn_token/{id}/{srv_name}` read as a user id (POST)."""

    tg_id: TgId = Field(alias="id")
    srv_name: ServerName


class KeyPath(Body):
    """`vpn_token/{id}/{srv_name}` read as a key id (PATCH, DELETE)."""

    token_id: KeyId = Field(alias="id")
    srv_name: ServerName


class PaymentPath(Body):
    payment_id: PaymentId


class RefreshPath(Body):
    token_id: KeyId
    srv_name: ServerName


class BindPath(Body):
    token_id: KeyId
    tg_id: TgId
    srv_name: ServerName


class AuditQuery(Body):
    """Query of `GET api/audit/`: filters (all optional) and the page."""

    key_id: KeyId | None = None
    tg_id: TgId | None = None
    actor: text(128) | None = Field(None, description="e.g. `api:billing`, `tg:42`, `cli`")
    action: text(64) | None = Field(None, description="e.g. `key.created`")
    since: Moment = Field(None, description="events at or after this instant")
    until: Moment = Field(None, description="events before this instant")
    before: Annotated[int, Field(ge=1, le=2**63 - 1)] | None = Field(
        None, description="the `next_before` of the previous page"
    )
    limit: Annotated[int, Field(ge=1, le=500)] = Field(50, description="events per page")


# --- bodies -----------------------------------------------------------------------------


class UserIn(BaseModel):
    """A Telegram user as the caller knows it (other Telegram fields are ignored).

    Telegram leaves out the optional fields a user lacks, so an absent field means null.
    """

    model_config = ConfigDict(strict=True, regex_engine="python-re", extra="ignore")

    id: TgId
    first_name: text(256) | None = None
    last_name: text(256) | None = None
    username: text(64) | None = None
    language_code: text(16) | None = None


class UserBody(BaseModel):
    """Body of `POST api/user/`."""

    model_config = ConfigDict(
        strict=True,
        regex_engine="python-re",
        extra="ignore",
        json_schema_extra=example(
            {"user": {"id": 42, "first_name": "Ann", "last_name": None, "username": "ann"}}
        ),
    )

    user: UserIn


class CreateDemo(Body):
    """Body of `POST api/vpn_token/{tg_id}/{srv_name}/`."""

    model_config = ConfigDict(json_schema_extra=example({"command": "create_demo_token"}))

    command: Literal["create_demo_token"]


class Refresh(Body):
    """Body of `POST api/vpn_token/{token_id}/refresh/{srv_name}/`."""

    model_config = ConfigDict(json_schema_extra=example({"command": "refresh_token"}))

    command: Literal["refresh_token"]


class CreateKey(Body):
    """Body of `POST api/vpn_token/{srv_name}/`: a new key, optionally bound and limited."""

    model_config = ConfigDict(
        json_schema_extra={
            "not": {"required": ["valid_until", "days"]},
            **example(
                {"command": "create_new_token", "tg_id": 42, "name": "laptop", "days": 30},
                {"command": "create_new_token", "valid_until": "2026-12-31", "traffic_limit": 0},
            ),
        }
    )

    command: Literal["create_new_token"]
    tg_id: TgId | None = None
    name: KeyName | None = None
    valid_until: ValidUntil = None
    days: Days | None = Field(None, description="valid for this many days from now")
    traffic_limit: Bytes | None = Field(None, description="bytes; null = unlimited")

    @model_validator(mode="after")
    def _one_expiry(self) -> Self:
        if {"valid_until", "days"} <= self.model_fields_set:
            raise ValueError("give either valid_until or days, not both")
        return self


class Bind(Body):
    """Body of `PATCH api/vpn_token/{token_id}/user/{tg_id}/{srv_name}/`."""

    model_config = ConfigDict(
        json_schema_extra=example({"command": "add_user_to_token", "force": False})
    )

    command: Literal["add_user_to_token"]
    force: bool = Field(False, description="take the key from the user who holds it")


class SetValidDate(Body):
    """Set the expiry (`valid_until`, null clears it) or extend it by `days`."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [{"required": ["valid_until"]}, {"required": ["days"]}],
            **example(
                {"command": "token_valid_date", "valid_until": "2026-12-31"},
                {"command": "token_valid_date", "days": 30},
            ),
        }
    )

    command: Literal["token_valid_date"]
    valid_until: ValidUntil = None
    days: Days = Field(
        None,
        description="extend from the later of now and the current expiry",
        json_schema_extra=_no_default,
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if len({"valid_until", "days"} & self.model_fields_set) != 1:
            raise ValueError("give exactly one of valid_until or days")
        return self


class SetActive(Body):
    """Disable (`false`) or enable a key."""

    model_config = ConfigDict(
        json_schema_extra=example({"command": "token_is_active", "is_active": False})
    )

    command: Literal["token_is_active"]
    is_active: bool


class Rename(Body):
    """Rename a key here and on its server."""

    model_config = ConfigDict(
        json_schema_extra=example({"command": "token_name", "name": "phone"})
    )

    command: Literal["token_name"]
    name: KeyName


class SetTrafficLimit(Body):
    """Set the lifetime traffic limit in bytes (null: unlimited)."""

    model_config = ConfigDict(
        json_schema_extra=example({"command": "token_traffic_limit", "traffic_limit": 10 * 2**30})
    )

    command: Literal["token_traffic_limit"]
    traffic_limit: Bytes | None = Field(description="bytes; null = unlimited")


class SetServer(Body):
    """Move the key to another server, keeping its id, dynamic link, usage and settings."""

    model_config = ConfigDict(
        json_schema_extra=example(
            {"command": "token_server", "server": "beta"},
            {"command": "token_server", "server": "auto"},
        )
    )

    command: Literal["token_server"]
    server: ServerName = Field(
        description="the target server's name, or `auto` for the one with the fewest live keys"
    )


class SetTrafficReset(Body):
    """Start the traffic allowance over every month (`monthly`) or never (null)."""

    model_config = ConfigDict(
        json_schema_extra=example({"command": "token_traffic_reset", "reset": "monthly"})
    )

    command: Literal["token_traffic_reset"]
    reset: Literal["monthly"] | None = Field(
        description="`monthly`: usage starts again at 0 each month from now; null: never"
    )


class KeyChange(RootModel):
    """Body of `PATCH api/vpn_token/{token_id}/{srv_name}/`: one change, named by `command`."""

    root: Annotated[
        SetValidDate | SetActive | Rename | SetTrafficLimit | SetServer | SetTrafficReset,
        Field(discriminator="command"),
    ]


def valid_until_of(body: SetValidDate | CreateKey) -> datetime | None:
    """The parsed expiry (typed as the datetime the validator produced)."""
    return body.valid_until


class RefundBody(Body):
    """Body of `POST api/payment/{payment_id}/refund/`."""

    model_config = ConfigDict(json_schema_extra=example({"command": "refund_payment"}))

    command: Literal["refund_payment"]
