"""Paystack, the live payment provider: the HTTP client and its webhook signature."""
