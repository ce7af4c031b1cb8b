"""A live demo network: business flows streamed through the public HTTP API.

`network.demo_network()` is the network (plants, suppliers, systems); `flows` generates
realistic procure-to-receive, make and order-to-ship flows as timed messages (pure Python,
seeded); `runner.Simulator` posts them to a running control tower as CloudEvents and EPCIS
documents. `manage.py simulate` wires the three together.
"""
