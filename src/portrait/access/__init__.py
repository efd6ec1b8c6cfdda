"""Access to a workspace from outside: API keys with roles, and the audit log."""

from portrait.access.audit import Audit
from portrait.access.keys import Keys
from portrait.model.access import KeyInfo

__all__ = ["Audit", "KeyInfo", "Keys"]
