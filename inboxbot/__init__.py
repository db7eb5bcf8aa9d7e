"""inboxbot: screens connection invitations in a mailbox and drafts the replies you would write."""

__version__ = "0.1.0"
