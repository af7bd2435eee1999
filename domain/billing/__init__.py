"""Selling access: plans, orders, Telegram Stars payments and refunds, promo codes, referrals."""
