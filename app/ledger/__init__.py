"""The credit ledger: the only code that moves credits, and every read of what it holds.

accounts.py names the accounts and kinds, posting.py moves credits, balances.py reads them
back, verification.py proves the invariants. Callers use the names below.
"""

from app.ledger.accounts import (
    ADJUSTMENTS_ACCOUNT,
    KINDS,
    MAX_CREDITS,
    OVERDRAFT_KINDS,
    SALES_ACCOUNT,
    SALES_SHARDS,
    SPEND_ACCOUNT,
    TAKE_BACK_KINDS,
    check_credits,
    credit_limit,
    ensure_account,
    sales_account,
    user_account,
)
from app.ledger.balances import (
    balance,
    balance_after,
    movements,
    purchase_movements,
    purchase_with_balance,
    take_back_count,
    taken_back,
    was_granted,
)
from app.ledger.posting import Posted, Posting, adjust, fingerprint, post
from app.ledger.verification import verify

__all__ = [
    "ADJUSTMENTS_ACCOUNT",
    "KINDS",
    "MAX_CREDITS",
    "OVERDRAFT_KINDS",
    "SALES_ACCOUNT",
    "SALES_SHARDS",
    "SPEND_ACCOUNT",
    "TAKE_BACK_KINDS",
    "Posted",
    "Posting",
    "adjust",
    "balance",
    "balance_after",
    "check_credits",
    "credit_limit",
    "ensure_account",
    "fingerprint",
    "movements",
    "post",
    "purchase_movements",
    "purchase_with_balance",
    "sales_account",
    "take_back_count",
    "taken_back",
    "user_account",
    "verify",
    "was_granted",
]
