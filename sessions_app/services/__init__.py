"""Writes of the sessions domain. Pages, API, admin and commands all call these; every name
is importable from here, each lives in the module of its concern."""

from core.locking import ensure_open as _ensure_open
from core.locking import lock as _lock_session
from core.storage import files_removed_on_error
from sessions_app.lifecycle import session_status_set
from sessions_app.services.card import card_replace_refusal, session_card_replace
from sessions_app.services.engagements import (
    engagement_create,
    import_profile_save,
    membership_grant,
    membership_revoke,
    user_current_session_switch,
)
from sessions_app.services.receipts import receipt_version_reapply, receipt_version_upload
from sessions_app.services.revisions import revision_resolve
from sessions_app.services.sessions import session_close, session_create, session_update
from sessions_app.services.uploads import UploadedStatement, statement_read

__all__ = [
    "UploadedStatement",
    "_ensure_open",
    "_lock_session",
    "card_replace_refusal",
    "engagement_create",
    "files_removed_on_error",
    "import_profile_save",
    "membership_grant",
    "membership_revoke",
    "receipt_version_reapply",
    "receipt_version_upload",
    "revision_resolve",
    "session_card_replace",
    "session_close",
    "session_create",
    "session_status_set",
    "session_update",
    "statement_read",
    "user_current_session_switch",
]
