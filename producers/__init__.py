"""Producers publish EPCIS events to Kafka: the publisher SDK, document capture and the plant simulator."""
