"""Microsoft's Phase 2 rule, one named function per part, each with the reason it is so.

The built-in policy definitions that enforcement deploys (``MFA_Deny``, ``MFA_DenyAction``;
``phase2-domain.md`` section 0) refuse a request when its token is a user's (``idtyp == "user"``),
``"mfa"`` is not an element of ``split(amr, ",")`` and ``"p1"`` is not an element of
``split(acrs, ",")``; create/update (``/write``) and delete (``/delete``) are evaluated, POST
``/action`` is not. The queries apply the same rule in KQL (they must run pasted into the portal);
a test checks that every query that judges MFA uses these exact expressions. These Python forms
are the reference the tests and the documentation read; the analysis never re-judges raw rows.
"""

from __future__ import annotations

from collections.abc import Mapping

#: The element of ``split(amr, ",")`` that satisfies the policy. Membership, not substring:
#: ``ngcmfa`` (Windows Hello) and ``wiaormfa`` are other methods' names, not ``mfa``.
MFA_AMR_ELEMENT = "mfa"
#: The element of ``split(acrs, ",")`` that satisfies it: the step-up a claims challenge asks for.
MFA_ACRS_ELEMENT = "p1"
#: The KQL every MFA-judging query uses (``Amr``/``Acrs`` are the claims as text).
KQL_HAS_MFA = 'set_has_element(split(Amr, ","), "mfa") or set_has_element(split(Acrs, ","), "p1")'

#: Operation kinds by the last segment of the operation name.
WRITE, DELETE, ACTION = "write", "delete", "action"
#: What the MFA policies evaluate: ``MFA_Deny`` create/update (PUT/PATCH), ``MFA_DenyAction`` delete.
EVALUATED_KINDS = frozenset({WRITE, DELETE})

#: How an operation ended, from its error code (never from the HTTP status: enforcement has been
#: seen answering 401 and 403 alike).
REFUSED_RBAC = "refused_rbac"
DENIED_MFA = "denied_mfa"
FAILED = "failed"
SUCCEEDED = "succeeded"
OUTCOMES = (SUCCEEDED, FAILED, DENIED_MFA, REFUSED_RBAC)
RBAC_ERROR = "AuthorizationFailed"
POLICY_ERROR = "RequestDisallowedByPolicy"

#: Principal kinds the activity query tells apart.
USER, WORKLOAD = "user", "workload"

#: Each part of the rule and why; the README's "What the analysis answers" says the same.
RULES: Mapping[str, str] = {
    "user_token": (
        "a user token is one whose idtyp claim is 'user'; without idtyp, one with a upn or scp claim, else "
        "one whose Caller is UPN-shaped. Authorization.evidence.principalType is the type of the role "
        "assignment that granted access (it can be a Group), so it never decides"
    ),
    "without_mfa": (
        "'mfa' is not an element of split(amr, ',') and 'p1' is not an element of split(acrs, ','): "
        "membership, not substring ('ngcmfa' and 'wiaormfa' are not 'mfa')"
    ),
    "evaluated": "create/update (/write) and delete (/delete) are evaluated; POST /action is reported apart",
    "refused_anyway": (
        "an operation refused by RBAC (AuthorizationFailed) never reaches the MFA check, so it does not make "
        "will_break and is counted apart"
    ),
    "enforcement_visible": (
        "a denial by RequestDisallowedByPolicy that names the MFA policy definitions or the sys.mfa-* "
        "assignments is enforcement already refusing the identity's writes"
    ),
    "at_risk": (
        "single-factor user tokens for Azure Resource Manager from any client, unless the activity log's "
        "claims for the same app show MFA (and the sign-in log never records MFA for that app: where it does, "
        "its single-factor labels are believed)"
    ),
}


def elements(claim: str | None) -> list[str]:
    """``split(claim, ",")`` as the policy reads it (empty claim: no element)."""
    return [] if not claim else str(claim).split(",")


def token_has_mfa(amr: str | None, acrs: str | None = "") -> bool:
    """True when the policy counts the token as MFA: ``mfa`` in its amr, or ``p1`` in its acrs."""
    return MFA_AMR_ELEMENT in elements(amr) or MFA_ACRS_ELEMENT in elements(acrs)


def is_user_token(idtyp: str | None, upn: str | None = "", scope: str | None = "", caller: str | None = "") -> bool:
    """The token is a user's: idtyp first, then a upn or scp claim, then the Caller's shape."""
    if idtyp:
        return idtyp == USER
    return bool(upn) or bool(scope) or "@" in (caller or "")


def operation_kind(operation_name: str | None) -> str:
    """``write``, ``delete``, ``action`` or "" from an operation name's last segment (any case)."""
    name = (operation_name or "").lower()
    for kind in (WRITE, DELETE, ACTION):
        if name.endswith("/" + kind):
            return kind
    return ""


def is_evaluated(kind: str) -> bool:
    """Does the MFA policy evaluate an operation of this kind (create/update and delete)?"""
    return kind in EVALUATED_KINDS
