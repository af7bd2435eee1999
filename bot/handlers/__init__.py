"""One router per feature; ``create_router()`` in each module builds a fresh one."""
