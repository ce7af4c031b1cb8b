"""Adapters: translate what source systems send (GS1 EPCIS, ...) into canonical contract events.

Each adapter is pure Python (no Django imports) so it can be tested and reused outside the web
process; the HTTP views call them and store the results like any CloudEvent.
"""
