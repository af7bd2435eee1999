"""What a dynamic link answers: the key's current server config, or why it does not work."""

from dataclasses import dataclass
from datetime import datetime

from db.models import InactiveReason, KeyState, VPNKey
from domain.accounts.users import LANGUAGES
from domain.context import Context
from domain.errors import NotFound
from domain.keys.rules import is_expired, is_over_quota
from vpn.ssurl import parse_access_url


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Outline's legacy dynamic-key config: where to connect and with which credentials."""

    server: str
    server_port: int
    password: str
    method: str


@dataclass(frozen=True, slots=True)
class KeyRefused:
    """A live key that does not work now, and what its owner should be told."""

    reason: InactiveReason
    key_name: str
    language: str
    valid_until: datetime | None


LinkAnswer = ServerConfig | KeyRefused


def _language(key: VPNKey) -> str:
    code = key.owner.language_code if key.owner is not None else None
    code = (code or "").split("-")[0].lower()
    return code if code in LANGUAGES else LANGUAGES[0]


def _refusal(key: VPNKey, now: datetime) -> InactiveReason | None:
    if key.inactive_reason is not None:
        return key.inactive_reason
    if not key.is_active:
        return InactiveReason.MANUAL
    # The worker cuts keys within seconds; the link already tells the truth meanwhile.
    if is_expired(key, now):
        return InactiveReason.EXPIRED
    return InactiveReason.TRAFFIC if is_over_quota(key) else None


async def answer_link(ctx: Context, secret: str) -> LinkAnswer:
    """The answer for a link secret; an unknown, forged or deleted link is ``NotFound``.

    Every secret costs one indexed look-up and one tag check, whatever it is, so neither the
    answer nor its timing tells an unknown link from a deleted one.
    """
    if ctx.links is None:
        raise NotFound("no such link")
    link_id, genuine = ctx.links.link_id_of(secret)
    key = await VPNKey.get_or_none(link_id=link_id, state=KeyState.LIVE).select_related("owner")
    if key is None or not genuine:
        raise NotFound("no such link")
    reason = _refusal(key, ctx.now())
    if reason is not None:
        return KeyRefused(reason, key.name, _language(key), key.valid_until)
    try:
        creds = parse_access_url(key.access_url or "")
    except ValueError:
        raise NotFound("no such link") from None
    return ServerConfig(creds.host, creds.port, creds.password, creds.method)
