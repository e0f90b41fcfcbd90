"""Admin forms: refunds, grants, tokens and review resolutions."""

import uuid

from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, RadioField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from app.ledger import MAX_CREDITS


def fresh_key() -> str:
    """Return a new idempotency key: each rendered form sends its own."""
    return uuid.uuid4().hex


class RefundForm(FlaskForm):
    amount = StringField("Amount to refund", validators=[Optional(), Length(max=20)])
    idempotency_key = HiddenField(default=fresh_key)
    confirm = HiddenField()
    submit = SubmitField("Review refund")


class GrantForm(FlaskForm):
    amount = IntegerField(
        "Credits (negative to deduct)",
        validators=[InputRequired(), NumberRange(min=-MAX_CREDITS, max=MAX_CREDITS)],
    )
    reason = StringField("Reason", validators=[DataRequired(), Length(max=500)])
    idempotency_key = HiddenField(default=fresh_key)
    submit = SubmitField("Apply adjustment")


class TokenForm(FlaskForm):
    name = StringField("Token name", validators=[Optional(), Length(max=100)])
    submit = SubmitField("Create token")


class ResolveForm(FlaskForm):
    action = RadioField("Resolution", validators=[DataRequired()], choices=[])
    note = TextAreaField("Note", validators=[DataRequired(), Length(max=2000)])
    submit = SubmitField("Resolve")


RESOLUTION_LABELS = {
    "credit": "Credit the purchase (the payment is good)",
    "fail": "Mark it failed (no credits)",
    "confirm": "Confirm it (the payment is good)",
    "take_back": "Take its credits back (not paid)",
}
