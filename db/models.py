"""Tortoise ORM models for every entity of the service."""

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class KeyState(StrEnum):
    """Where a key is in its life; ``creating`` rows are not yet confirmed on the server."""

    CREATING = "creating"
    LIVE = "live"
    DELETED = "deleted"


class InactiveReason(StrEnum):
    """Why a key is cut off."""

    MANUAL = "manual"
    EXPIRED = "expired"
    TRAFFIC = "traffic"


class TrafficReset(StrEnum):
    """When a key's traffic allowance starts over."""

    NO_RESET = "no_reset"
    MONTHLY = "monthly"


class User(Model):
    """A Telegram user; ``id`` is the Telegram user id."""

    id = fields.BigIntField(primary_key=True, generated=False)
    first_name = fields.CharField(max_length=256, null=True)
    last_name = fields.CharField(max_length=256, null=True)
    username = fields.CharField(max_length=64, null=True, db_index=True)
    language_code = fields.CharField(max_length=16, null=True)
    start_payload = fields.CharField(max_length=64, null=True)
    referral_code = fields.CharField(max_length=16, null=True, unique=True)
    # Who invited this user (a plain id: SQLite cannot add a foreign key to a table).
    referred_by_id = fields.BigIntField(null=True, db_index=True)
    demo_issued_at = fields.DatetimeField(null=True)
    bot_blocked_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "users"

    @property
    def has_demo(self) -> bool:
        """Whether the user has had their one demo key (ever)."""
        return self.demo_issued_at is not None


class Installation(Model):
    """This deployment (one row, ``id`` 1): its prefix starts every key id it creates."""

    id = fields.IntField(primary_key=True, generated=False)
    key_prefix = fields.CharField(max_length=6)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "installation"


class VPNServer(Model):
    """A VPN server the service manages; ``api_url`` is a secret."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=32, unique=True)
    title = fields.CharField(max_length=64, null=True)  # shown to users, e.g. "🇩🇪 Frankfurt"
    kind = fields.CharField(max_length=16, default="outline")
    api_url = fields.CharField(max_length=512)
    cert_sha256 = fields.CharField(max_length=64, null=True)
    # Outline's ``serverId`` (``GET /server``): one server is registered once. Rows from
    # before it was kept get it at the next reconcile, ``server add`` or ``server update``.
    server_uid = fields.CharField(max_length=64, null=True, unique=True)
    is_active = fields.BooleanField(default=True)
    last_synced_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    # Health as the worker's watch last saw it (``domain.servers.health``).
    reachable = fields.BooleanField(default=True)
    failed_checks = fields.IntField(default=0)
    checked_at = fields.DatetimeField(null=True)
    down_since = fields.DatetimeField(null=True)
    up_since = fields.DatetimeField(null=True)
    # An admin asked for every key to be moved off this server; the worker does it.
    draining = fields.BooleanField(default=False)

    class Meta:
        table = "vpn_servers"

    def __str__(self) -> str:
        return self.name


class VPNKey(Model):
    """An access key ("token"); deleted keys stay for history."""

    id = fields.IntField(primary_key=True)
    server: fields.ForeignKeyRelation[VPNServer] = fields.ForeignKeyField(
        "models.VPNServer", related_name="keys", on_delete=fields.RESTRICT
    )
    owner: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="keys", null=True, on_delete=fields.SET_NULL
    )
    remote_id = fields.CharField(max_length=64)
    name = fields.CharField(max_length=100)
    access_url = fields.CharField(max_length=1024, null=True)
    state = fields.CharEnumField(KeyState, max_length=16, default=KeyState.CREATING)
    is_active = fields.BooleanField(default=True)
    inactive_reason = fields.CharEnumField(InactiveReason, max_length=16, null=True)
    is_demo = fields.BooleanField(default=False)
    valid_until = fields.DatetimeField(null=True)
    traffic_limit = fields.BigIntField(null=True)
    traffic_used = fields.BigIntField(default=0)
    usage_baseline = fields.BigIntField(default=0)
    traffic_reset = fields.CharEnumField(
        TrafficReset, max_length=16, default=TrafficReset.NO_RESET
    )
    period_started_at = fields.DatetimeField(null=True)
    previous: fields.ForeignKeyNullableRelation["VPNKey"] = fields.ForeignKeyField(
        "models.VPNKey", related_name="next_keys", null=True, on_delete=fields.SET_NULL
    )
    # The stored half of the key's dynamic link (``domain.links.signing``).
    link_id = fields.CharField(max_length=16, null=True, unique=True)
    deleted_at = fields.DatetimeField(null=True)
    # The lease of ``domain.keys.locks``: who is changing the key, and until when at most.
    lock_holder = fields.CharField(max_length=32, null=True)
    lock_expires_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    server_id: int
    owner_id: int | None
    previous_id: int | None

    class Meta:
        table = "vpn_keys"
        unique_together = (("server", "remote_id"),)
        indexes = (("state", "valid_until"), ("state", "owner"))


class MoveState(StrEnum):
    """Where a move of a key to another server is: only ``pending`` ones need repair."""

    PENDING = "pending"
    DONE = "done"
    ROLLED_BACK = "rolled_back"


class KeyMove(Model):
    """A key's move between servers, written before the new server is asked for the key.

    While ``pending`` the key row still points at ``from_server``; the switch to
    ``to_server`` and ``done`` are one transaction, so the reconciler knows which copy is
    the key's and which is left over.
    """

    id = fields.IntField(primary_key=True)
    key: fields.ForeignKeyRelation[VPNKey] = fields.ForeignKeyField(
        "models.VPNKey", related_name="moves", on_delete=fields.CASCADE
    )
    from_server: fields.ForeignKeyRelation[VPNServer] = fields.ForeignKeyField(
        "models.VPNServer", related_name="moves_out", on_delete=fields.CASCADE
    )
    from_remote_id = fields.CharField(max_length=64)
    to_server: fields.ForeignKeyRelation[VPNServer] = fields.ForeignKeyField(
        "models.VPNServer", related_name="moves_in", on_delete=fields.CASCADE
    )
    to_remote_id = fields.CharField(max_length=64)
    state = fields.CharEnumField(MoveState, max_length=16, default=MoveState.PENDING)
    actor = fields.CharField(max_length=128)
    created_at = fields.DatetimeField(auto_now_add=True)
    finished_at = fields.DatetimeField(null=True)

    key_id: int
    from_server_id: int
    to_server_id: int

    class Meta:
        table = "key_moves"
        indexes = (("to_server", "state"),)


class ApiToken(Model):
    """A credential for the HTTP API; only the SHA-256 of the plaintext is stored."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64, unique=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_tokens"


class AuditEvent(Model):
    """One state change of a key or user, with who made it."""

    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField(auto_now_add=True, db_index=True)
    actor = fields.CharField(max_length=128)
    action = fields.CharField(max_length=64)
    key: fields.ForeignKeyNullableRelation[VPNKey] = fields.ForeignKeyField(
        "models.VPNKey", related_name="events", null=True, on_delete=fields.SET_NULL
    )
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="events", null=True, on_delete=fields.SET_NULL
    )
    details = fields.JSONField(default=dict)

    key_id: int | None
    user_id: int | None

    class Meta:
        table = "audit_events"


class Notice(Model):
    """Outbox row: a Telegram message or an outgoing webhook waiting to be delivered."""

    id = fields.BigIntField(primary_key=True)
    channel = fields.CharField(max_length=16)
    kind = fields.CharField(max_length=32)
    user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="notices", null=True, on_delete=fields.CASCADE
    )
    key: fields.ForeignKeyNullableRelation[VPNKey] = fields.ForeignKeyField(
        "models.VPNKey", related_name="notices", null=True, on_delete=fields.SET_NULL
    )
    payload = fields.JSONField(default=dict)
    dedup_key = fields.CharField(max_length=128, null=True, unique=True)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(null=True)
    sent_at = fields.DatetimeField(null=True)
    failed_at = fields.DatetimeField(null=True)
    last_error = fields.CharField(max_length=256, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    user_id: int | None
    key_id: int | None

    class Meta:
        table = "notices"
        indexes = (("sent_at", "failed_at", "next_attempt_at"),)


class TrafficBucket(Model):
    """Bytes one key moved in one UTC hour, as the traffic ledger attributed them.

    Kept for a little over Outline's 30-day window: the ledger subtracts what ages out of
    the server's rolling counter, which the counter alone cannot tell apart from new traffic.

    ``key_id`` names a ``vpn_keys`` row without a foreign key: the sync writes a row per key
    per hour, and checking each against ``vpn_keys`` cost as much as the write. The sync's
    own ``UPDATE`` of the same keys, in the same transaction, proves and locks them; whoever
    deletes a key row deletes its history.
    """

    id = fields.BigIntField(primary_key=True)
    key_id = fields.IntField()
    hour = fields.DatetimeField(db_index=True)
    bytes = fields.BigIntField(default=0)

    class Meta:
        table = "traffic_buckets"
        unique_together = (("key_id", "hour"),)


class OrderState(StrEnum):
    """Where an order is: waiting for its payment, paid, or no longer payable."""

    PENDING = "pending"
    PAID = "paid"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class PaymentState(StrEnum):
    """A payment is received, applied to a key, or (being) refunded."""

    RECEIVED = "received"
    APPLIED = "applied"
    REFUNDING = "refunding"
    REFUNDED = "refunded"


class Plan(Model):
    """What the operator sells: days, traffic and a price in Telegram Stars."""

    id = fields.IntField(primary_key=True)
    name_en = fields.CharField(max_length=32)
    name_ru = fields.CharField(max_length=32)
    days = fields.IntField()
    traffic_limit = fields.BigIntField(null=True)
    traffic_reset = fields.CharEnumField(
        TrafficReset, max_length=16, default=TrafficReset.NO_RESET
    )
    price_stars = fields.IntField()
    # Ids of the servers new keys of this plan go to; empty means every active server.
    server_ids = fields.JSONField(default=list)
    recurring = fields.BooleanField(default=False)
    is_active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "plans"


class PromoCode(Model):
    """A code entered at checkout: percent off or free days, with optional limits."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)
    percent_off = fields.IntField(null=True)
    free_days = fields.IntField(null=True)
    max_uses = fields.IntField(null=True)
    uses = fields.IntField(default=0)
    valid_until = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "promo_codes"


class Order(Model):
    """A checkout, stored before its invoice is sent; ``token`` is the invoice payload."""

    id = fields.IntField(primary_key=True)
    token = fields.CharField(max_length=32, unique=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="orders", on_delete=fields.RESTRICT
    )
    plan: fields.ForeignKeyRelation[Plan] = fields.ForeignKeyField(
        "models.Plan", related_name="orders", on_delete=fields.RESTRICT
    )
    key: fields.ForeignKeyNullableRelation[VPNKey] = fields.ForeignKeyField(
        "models.VPNKey", related_name="orders", null=True, on_delete=fields.SET_NULL
    )
    server: fields.ForeignKeyNullableRelation[VPNServer] = fields.ForeignKeyField(
        "models.VPNServer", related_name="orders", null=True, on_delete=fields.SET_NULL
    )
    promo: fields.ForeignKeyNullableRelation[PromoCode] = fields.ForeignKeyField(
        "models.PromoCode", related_name="orders", null=True, on_delete=fields.RESTRICT
    )
    plan_price = fields.IntField()
    price = fields.IntField()
    days = fields.IntField()
    state = fields.CharEnumField(OrderState, max_length=16, default=OrderState.PENDING)
    expires_at = fields.DatetimeField()
    # A recurring plan's Star subscription: its first charge id and the paid-up date.
    subscription_charge_id = fields.CharField(max_length=128, null=True)
    subscription_until = fields.DatetimeField(null=True)
    renewal_cancelled_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    user_id: int
    plan_id: int
    key_id: int | None
    server_id: int | None
    promo_id: int | None

    class Meta:
        table = "orders"
        indexes = (("state", "expires_at"), ("key", "subscription_until"))


class Payment(Model):
    """One Telegram Stars charge; applied to a key once, whatever Telegram re-delivers."""

    id = fields.IntField(primary_key=True)
    order: fields.ForeignKeyRelation[Order] = fields.ForeignKeyField(
        "models.Order", related_name="payments", on_delete=fields.RESTRICT
    )
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="payments", on_delete=fields.RESTRICT
    )
    key: fields.ForeignKeyNullableRelation[VPNKey] = fields.ForeignKeyField(
        "models.VPNKey", related_name="payments", null=True, on_delete=fields.SET_NULL
    )
    telegram_payment_charge_id = fields.CharField(max_length=128, unique=True)
    provider_payment_charge_id = fields.CharField(max_length=128, null=True)
    amount = fields.IntField()
    currency = fields.CharField(max_length=8)
    is_recurring = fields.BooleanField(default=False)
    days = fields.IntField()
    state = fields.CharEnumField(PaymentState, max_length=16, default=PaymentState.RECEIVED)
    # The validity the payment bought, so a refund can take exactly that back.
    extended_from = fields.DatetimeField(null=True)
    extended_to = fields.DatetimeField(null=True)
    attempts = fields.IntField(default=0)
    last_error = fields.CharField(max_length=256, null=True)
    paid_at = fields.DatetimeField(db_index=True)
    applied_at = fields.DatetimeField(null=True)
    refunded_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    order_id: int
    user_id: int
    key_id: int | None

    class Meta:
        table = "payments"
        indexes = (("state", "id"), ("user", "id"))


class PromoRedemption(Model):
    """A user's one use of a promo code, held by the order it was entered for."""

    id = fields.IntField(primary_key=True)
    promo: fields.ForeignKeyRelation[PromoCode] = fields.ForeignKeyField(
        "models.PromoCode", related_name="redemptions", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="redemptions", on_delete=fields.CASCADE
    )
    order: fields.ForeignKeyNullableRelation[Order] = fields.ForeignKeyField(
        "models.Order", related_name="redemptions", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    promo_id: int
    user_id: int
    order_id: int | None

    class Meta:
        table = "promo_redemptions"
        unique_together = (("promo", "user"),)


class ReferralBonus(Model):
    """Bonus days a referrer earns once, when the user they brought first pays."""

    id = fields.IntField(primary_key=True)
    referrer: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="referral_bonuses", on_delete=fields.CASCADE
    )
    referred: fields.OneToOneRelation[User] = fields.OneToOneField(
        "models.User", related_name="referral_bonus", on_delete=fields.CASCADE
    )
    payment: fields.ForeignKeyNullableRelation[Payment] = fields.ForeignKeyField(
        "models.Payment", related_name="referral_bonuses", null=True, on_delete=fields.SET_NULL
    )
    key: fields.ForeignKeyNullableRelation[VPNKey] = fields.ForeignKeyField(
        "models.VPNKey", related_name="referral_bonuses", null=True, on_delete=fields.SET_NULL
    )
    days = fields.IntField()
    applied_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    referrer_id: int
    referred_id: int
    payment_id: int | None
    key_id: int | None

    class Meta:
        table = "referral_bonuses"
