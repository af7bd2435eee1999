"""``api/plans/``, ``api/user/{tg_id}/payments/`` and refunds of Telegram Stars payments."""

from aiohttp import web

from api.app_keys import ACTOR, CONTEXT, STARS
from api.parsing import json_body, path_params
from api.responses import PlanOut, PlansEnvelope, payments_reply, reply
from api.schemas import PaymentPath, RefundBody, UserPath
from domain.billing import payments, plans, refunds


async def get_plans(request: web.Request) -> web.Response:
    """Every plan, on sale or retired, cheapest first."""
    found = await plans.list_plans()
    body = [PlanOut.of(plan) for plan in found]
    return reply(PlansEnvelope(status=200, details=f"{len(found)} plan(s)", plans=body))


async def get_user_payments(request: web.Request) -> web.Response:
    """A user's payments, newest first."""
    path = path_params(request, UserPath)
    found = await payments.payments_of(path.tg_id)
    return payments_reply(found, f"{len(found)} payment(s) of user {path.tg_id}")


async def post_refund(request: web.Request) -> web.Response:
    """Refund a payment through Telegram and take back the time it bought."""
    path = path_params(request, PaymentPath)
    await json_body(request, RefundBody)
    payment = await refunds.refund_payment(
        request.app[CONTEXT],
        payment_id=path.payment_id,
        gateway=request.app.get(STARS),
        actor=request[ACTOR],
    )
    return payments_reply([payment], f"payment {payment.id} {payment.state.value}")
