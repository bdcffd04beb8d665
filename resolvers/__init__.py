"""The domain: search, offers, bookings, payments, rates; plain functions over collaborators."""
