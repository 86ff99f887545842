"""The Python program of the capture suite (workloads/capture/capture-suite): an inventory of
generated orders grouped, sorted, summarized and round-tripped through JSON. Objects,
dictionaries, strings, sorting and the garbage collector, as ordinary Python code exercises
them. Deterministic: a fixed linear congruential generator, no clock, no hashing of strings
that depends on PYTHONHASHSEED (only integers and sorted keys decide the output)."""
import json

ITEMS = ["bolt", "nut", "gear", "shaft", "valve", "pump", "seal", "spring", "lever", "cam"]


class Order:
    __slots__ = ("number", "customer", "item", "quantity", "price")

    def __init__(self, number, customer, item, quantity, price):
        self.number = number
        self.customer = customer
        self.item = item
        self.quantity = quantity
        self.price = price

    def total(self):
        return self.quantity * self.price


def orders(count, state=2024):
    for number in range(count):
        state = (state * 1103515245 + 12345) % 2**31
        yield Order(number, state % 251, ITEMS[state % len(ITEMS)] + str(state % 13), 1 + state % 9, 100 + state % 900)


def main():
    by_customer = {}
    for order in orders(4000):
        by_customer.setdefault(order.customer, []).append(order)
    summary = []
    for customer, placed in sorted(by_customer.items()):
        placed.sort(key=lambda o: (-o.total(), o.number))
        items = {}
        for o in placed:
            items[o.item] = items.get(o.item, 0) + o.quantity
        top = sorted(items.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        summary.append({"customer": customer, "orders": len(placed), "spent": sum(o.total() for o in placed),
                        "largest": placed[0].number, "top": top})
    text = json.dumps(summary, sort_keys=True)
    again = json.loads(text)
    best = max(again, key=lambda s: (s["spent"], -s["customer"]))
    print(len(text), len(again), best["customer"], best["spent"])


main()
