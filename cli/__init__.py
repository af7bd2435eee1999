"""The one-shot commands of ``main.py``, one module per area: each adds its subcommands to the
parser (``add_parsers``) and names the function that runs each (``COMMANDS``)."""
