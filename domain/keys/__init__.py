"""Access keys: issuing, changing, refreshing, the activity rules, and repair of drift."""
