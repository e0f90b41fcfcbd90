"""stripe events name their payment

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 21:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('stripe_events') as batch_op:
        batch_op.add_column(sa.Column('payment_intent_id', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('charge_id', sa.String(length=255), nullable=True))
        batch_op.create_index(
            'ix_stripe_events_payment_intent_id', ['payment_intent_id'], unique=False
        )


def downgrade():
    with op.batch_alter_table('stripe_events') as batch_op:
        batch_op.drop_index('ix_stripe_events_payment_intent_id')
        batch_op.drop_column('charge_id')
        batch_op.drop_column('payment_intent_id')
