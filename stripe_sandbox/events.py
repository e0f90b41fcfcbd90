"""Reading events back: retrieve and list with Stripe's filters."""

from __future__ import annotations

from . import objects
from . import params as P
from .catalog import in_where
from .context import Ctx
from .errors import InvalidRequest
from .objects import Obj

UNDELIVERED = (
    "EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = objects.id AND d.status != 'succeeded')"
)


def _with_pending(ctx: Ctx, event: Obj) -> Obj:
    """Set `pending_webhooks` from the delivery rows: 1 until the endpoint has it."""
    rows = ctx.tx.deliveries_for(event["id"])
    event["pending_webhooks"] = int(any(r["status"] != "succeeded" for r in rows))
    return event


def retrieve_event(ctx: Ctx, params: P.Params, id: str) -> Obj:
    """Return an event."""
    return _with_pending(ctx, ctx.load("event", id))


def list_events(ctx: Ctx, params: P.Params) -> Obj:
    """List events by `type` (with `*` wildcards), `types[]`, `created`, `delivery_success`."""
    P.check_known(params, (*P.PAGE_PARAMS, "type", "types", "created", "delivery_success"))
    type_ = P.string(params, "type")
    types = P.string_list(params, "types")
    if type_ and types:
        raise InvalidRequest("You may pass either `type` or `types`, but not both.", param="types")
    if types and len(types) > 20:
        raise InvalidRequest("You may pass up to 20 types.", param="types")
    where = in_where("type", types)
    if type_:
        where.append(("json_extract(data, '$.type') GLOB ?", [type_]))
    success = P.boolean(params, "delivery_success")
    if success is not None:
        where.append((UNDELIVERED if success is False else f"NOT {UNDELIVERED}", []))
    where.extend(P.created_filter(params))
    data, has_more = ctx.tx.select("event", where, **P.page(params))
    events = [_with_pending(ctx, objects.public(e)) for e in data]
    return objects.list_object("/v1/events", events, has_more)
