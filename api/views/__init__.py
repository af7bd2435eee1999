"""Request handlers, one module per resource; each parses, calls one domain function, renders."""
