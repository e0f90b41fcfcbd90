"""Property test: any mix of postings, replays, conflicts and adjustments keeps the ledger sound."""

from __future__ import annotations

from collections import defaultdict

from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import ledger
from app.db import write_transaction
from app.errors import InsufficientCredits, LedgerConflict
from app.extensions import db
from app.ledger import ADJUSTMENTS_ACCOUNT, SPEND_ACCOUNT, Posting, user_account
from tests.helpers.builders import make_user

USERS = 3
operation = st.tuples(
    st.sampled_from(["adjustment", "spend", "take_back", "restore"]),
    st.integers(min_value=0, max_value=USERS - 1),
    st.integers(min_value=1, max_value=500),
    st.sampled_from([f"key-{n}" for n in range(12)]),
)


@settings(
    deadline=None, max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=st.lists(operation, min_size=1, max_size=25))
def test_random_histories_keep_every_invariant(app: Flask, ops) -> None:
    with app.app_context():
        db.drop_all()
        db.create_all()
        users = [make_user(f"u{n}@example.com").id for n in range(USERS)]
        expected: dict[int, int] = defaultdict(int)
        used: dict[str, tuple] = {}
        for kind, who, amount, key in ops:
            user_id = users[who]
            delta = -amount if kind in ("spend", "take_back") else amount
            counterpart = SPEND_ACCOUNT if kind == "spend" else ADJUSTMENTS_ACCOUNT
            postings = [Posting(user_account(user_id), delta), Posting(counterpart, -delta)]
            signature = (kind, user_id, delta)
            try:
                with write_transaction():
                    ledger.post(key, kind, postings)
            except LedgerConflict:
                assert key in used and used[key] != signature
            except InsufficientCredits:
                assert kind == "spend" and expected[user_id] < amount
                assert key not in used
            else:
                if key in used:
                    assert used[key] == signature  # a replay: nothing moved
                else:
                    used[key] = signature
                    expected[user_id] += delta
            assert ledger.verify() == []
            for uid in users:
                assert ledger.balance(uid) == expected[uid]
            for uid in users:
                # Only overdraft kinds can leave a balance negative.
                if expected[uid] < 0:
                    assert any(
                        used[k][1] == uid and used[k][0] in ledger.OVERDRAFT_KINDS for k in used
                    )
