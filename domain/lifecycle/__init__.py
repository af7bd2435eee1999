"""The lifecycle worker: its periodic tasks and the election of the process running them."""
