"""The EPCIS 2.0 event model, GS1 identifiers with their check digits, the CBV vocabulary and the CBV 2.0 event
hash ID: what an event *is*, independent of how it is written down or sent."""
