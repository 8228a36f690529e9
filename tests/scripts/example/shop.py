"""A small but realistic Celery app for celtrace's example recording.

An order goes through a chain: validate → reserve stock → charge the card (the payment
gateway times out once, so the task retries) → a chord that sends the receipt, notifies
the warehouse and updates loyalty points in parallel, then finalizes the order. A second
order is refused by the fraud check (a failure), and a report task spawns child tasks with
.delay() and sends progress events.

Broker and result backend come from SHOP_BROKER / SHOP_BACKEND (Redis URLs).
"""
import os
import time

from celery import Celery, chain, chord

app = Celery(
    "shop",
    broker=os.environ.get("SHOP_BROKER", "redis://127.0.0.1:6379/0"),
    backend=os.environ.get("SHOP_BACKEND", "redis://127.0.0.1:6379/1"),
)
app.conf.update(
    task_send_sent_event=True,       # producers emit task-sent
    worker_send_task_events=True,    # same as `worker -E`
    result_extended=True,
    worker_prefetch_multiplier=1,
    timezone="UTC",
    enable_utc=True,
)

_attempts = {}


class GatewayTimeout(Exception):
    pass


class FraudSuspected(Exception):
    pass


@app.task
def validate_order(order_id, customer, items):
    time.sleep(0.05)
    if customer.get("country") == "XX":
        raise FraudSuspected(f"order {order_id}: customer country blocked")
    return {"order_id": order_id, "total": sum(i["price"] * i["qty"] for i in items)}


@app.task
def reserve_stock(order):
    time.sleep(0.08)
    return dict(order, reserved=True)


@app.task(bind=True, max_retries=3)
def charge_card(self, order, card_token=None):
    # The gateway times out on the first try of each order.
    key = order["order_id"]
    _attempts[key] = _attempts.get(key, 0) + 1
    if self.request.retries == 0:
        raise self.retry(exc=GatewayTimeout("payment gateway timed out after 10s"), countdown=1)
    time.sleep(0.1)
    return dict(order, charged=order["total"])


@app.task
def send_receipt(order):
    time.sleep(0.03)
    return f"receipt sent for order {order['order_id']}"


@app.task
def notify_warehouse(order):
    time.sleep(0.06)
    return f"warehouse notified: {order['order_id']}"


@app.task
def update_loyalty(order):
    time.sleep(0.02)
    return {"points": int(order["charged"] // 10)}


@app.task
def finalize_order(results, order_id):
    return {"order_id": order_id, "status": "complete", "steps": len(results)}


@app.task(bind=True)
def nightly_report(self, day):
    parts = [render_section.delay(day, s).id for s in ("sales", "returns")]
    for i in range(3):
        self.send_event("task-progress", current=i + 1, total=3)
        time.sleep(0.05)
    return parts


@app.task
def render_section(day, section):
    time.sleep(0.04)
    return f"{section} for {day}"


def place_order(order_id, customer, items, card_token):
    """The canvas for one order, applied from the web process: a chain whose last step starts
    a chord (receipt, warehouse, loyalty in parallel, then finalize)."""
    flow = chain(
        validate_order.s(order_id, customer, items),
        reserve_stock.s(),
        charge_card.s(card_token=card_token),
    )
    return (flow | fan_out.s(order_id)).apply_async()


@app.task
def fan_out(order, order_id):
    """Starts the chord with the charged order as every header task's argument."""
    header = [send_receipt.s(order), notify_warehouse.s(order), update_loyalty.s(order)]
    return chord(header)(finalize_order.s(order_id=order_id)).id
