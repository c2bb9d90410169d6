"""Operator pages for sessions: list, new session, the session page and its live panels,
receipts, card statement replacement, close, switch, employee detail, notifications.

Views parse input, check access through the selectors, call a service and show its domain
error. htmx requests get the named partial of the page (see STYLE.md, HTMX pages); the
toolkit for that is `core.htmx`."""

from core.htmx import (
    HtmxHttpRequest,
    came_from,
    dialog_response,
    domain_status,
    htmx_fragment,
    redirect_or_client_redirect,
)
from sessions_app.access import writable_engagements
from sessions_app.views.employees import (
    EMPLOYEE_PANELS,
    REVISION_FIELDS,
    employee_detail,
    employee_resolve,
)
from sessions_app.views.notifications import (
    notification_list,
    notification_read,
    notification_read_all,
)
from sessions_app.views.pages import (
    import_profile_new,
    session_close_view,
    session_list,
    session_new,
    session_switch,
)
from sessions_app.views.panels import (
    CARD,
    CLOSE,
    DETAIL,
    DETAIL_PANELS,
    EMPLOYEE,
    EMPLOYEES_PER_PAGE,
    LIST,
    NEW,
    PROFILE,
    RECEIPTS,
    SESSION_CHANGED,
    SESSIONS_PER_PAGE,
    TIMELINE_EVENTS,
    action_failed,
    after_job_changed,
    can_write,
    session_detail,
    session_url,
)
from sessions_app.views.uploads import card_replace, receipt_reapply, receipts_upload

__all__ = [
    "CARD",
    "CLOSE",
    "DETAIL",
    "DETAIL_PANELS",
    "EMPLOYEE",
    "EMPLOYEES_PER_PAGE",
    "EMPLOYEE_PANELS",
    "LIST",
    "NEW",
    "PROFILE",
    "RECEIPTS",
    "REVISION_FIELDS",
    "SESSIONS_PER_PAGE",
    "SESSION_CHANGED",
    "TIMELINE_EVENTS",
    "HtmxHttpRequest",
    "action_failed",
    "after_job_changed",
    "came_from",
    "can_write",
    "card_replace",
    "dialog_response",
    "domain_status",
    "employee_detail",
    "employee_resolve",
    "htmx_fragment",
    "import_profile_new",
    "notification_list",
    "notification_read",
    "notification_read_all",
    "receipt_reapply",
    "receipts_upload",
    "redirect_or_client_redirect",
    "session_close_view",
    "session_detail",
    "session_list",
    "session_new",
    "session_switch",
    "session_url",
    "writable_engagements",
]
