"""The contract every Lotline package imports: the EPCIS 2.0 event model, identifiers, Avro schemas and codecs.

Nothing here talks to Kafka or PostgreSQL; producers, consumers and projections depend on this package and
never the other way round.
"""
