"""EPCIS documents and records as they are written down: JSON-LD and XML readers, validation of a capture
document, and the checked wire record (the Avro record of an event) with its identity and JSON-LD body."""
