"""FSM states of the conversations that wait for typed input."""

from aiogram.fsm.state import State, StatesGroup


class RenameKey(StatesGroup):
    """A user is typing a new name for one of their keys."""

    name = State()


class Checkout(StatesGroup):
    """A user at the summary of a purchase may type a promo code."""

    promo = State()


class AdminInput(StatesGroup):
    """An admin is typing a user query, a traffic limit or a broadcast text."""

    user_query = State()
    traffic_limit = State()
    broadcast_text = State()
    broadcast_confirm = State()
