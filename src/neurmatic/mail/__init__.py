"""Outgoing mail: the message, its templates, and the transports the job worker delivers it with."""
