"""Business rules: no Flask, own transactions, write the audit entries."""
