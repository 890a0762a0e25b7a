"""Avro on the wire: the schemas (``*.avsc`` beside this file), their codecs and framings, and the compiled
record readers and writers."""
