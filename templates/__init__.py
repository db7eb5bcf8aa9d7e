"""The built-in reply templates, installed as the package inboxbot.templates."""
