"""The review queue's rules: state transitions, tiers, timeouts, grouping. No I/O here."""
