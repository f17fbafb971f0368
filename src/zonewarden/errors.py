"""The exception hierarchy every layer shares.

Decode errors follow dpkt's split: ``NeedMoreData`` means "incomplete, wait for more bytes",
``Malformed`` means "these bytes can never be valid". Anything else escaping a parser is a bug.
"""


class ZonewardenError(Exception):
    """Base of every error zonewarden raises on purpose."""


class DecodeError(ZonewardenError):
    """Bytes could not be turned into a message."""


class NeedMoreData(DecodeError):
    """The message is incomplete: more bytes are needed before it can be parsed."""


class Malformed(DecodeError):
    """The bytes violate the format; waiting for more will not help."""


class CaptureError(ZonewardenError):
    """A capture file cannot be opened or read (not a capture, unsupported format, I/O error)."""


class ConfigError(ZonewardenError):
    """A user-supplied setting or option is invalid."""


class StoreError(ZonewardenError):
    """The persistent store cannot be opened, migrated or written."""


class WorkerError(ZonewardenError):
    """A process zonewarden forked for part of a job ended without its result (killed, out of memory)."""
