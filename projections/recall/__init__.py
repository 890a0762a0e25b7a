"""Recall alerts: a projection that keeps each active recall's scope and writes changes to an outbox, and a
relay that publishes the outbox to Kafka."""
