"""The support desk's tools as plain functions, shared by the scripted apps of the adapters whose
frameworks wrap plain functions (Google ADK, Strands, Agent Framework, Pydantic AI): each app wraps
them in its own framework's tool type. ``RAN`` records every call that really ran (tests clear it)."""

from __future__ import annotations

from typing import Any

RAN: list[tuple[str, dict[str, Any]]] = []


def lookup_order(order: str) -> str:
    """Look up an order."""
    RAN.append(("lookup_order", {"order": order}))
    return f"order {order} is late"


def issue_refund(order: str, amount: float) -> str:
    """Refund an order."""
    RAN.append(("issue_refund", {"order": order, "amount": amount}))
    return f"refunded {amount} on {order}"


def close_account(customer: str) -> str:
    """Close an account."""
    RAN.append(("close_account", {"customer": customer}))
    return f"closed {customer}"


def delete_customer_data(customer: str) -> str:
    """Delete a customer's data."""
    RAN.append(("delete_customer_data", {"customer": customer}))
    return f"deleted {customer}"


def send_receipt(order: str) -> str:
    """Mail a receipt (the policy records it in the reviewers' feed)."""
    RAN.append(("send_receipt", {"order": order}))
    return f"sent receipt for {order}"
