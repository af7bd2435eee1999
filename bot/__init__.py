"""The Telegram bot: aiogram 3 routers over the domain layer, in Russian and English."""
