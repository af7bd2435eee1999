"""``api/audit/``: the audit log, newest first, filtered and paged."""

from aiohttp import web

from api.parsing import query_params
from api.responses import AuditEnvelope, AuditEventOut, reply
from api.schemas import AuditQuery
from domain.operations.audit_log import AuditQuery as Query
from domain.operations.audit_log import read_audit


async def get_audit(request: web.Request) -> web.Response:
    """Audit events matching the query's filters, one page at a time."""
    q = query_params(request, AuditQuery)
    page = await read_audit(
        Query(
            key_id=q.key_id,
            user_id=q.tg_id,
            actor=q.actor,
            action=q.action,
            since=q.since,
            until=q.until,
            before=q.before,
            limit=q.limit,
        )
    )
    events = [AuditEventOut.of(e) for e in page.events]
    details = f"{len(events)} audit event(s)" + ("; more before" if page.next_before else "")
    return reply(
        AuditEnvelope(status=200, details=details, events=events, next_before=page.next_before)
    )
