"""The traffic ledger: whole-life usage from the servers' counters, reset periods."""
