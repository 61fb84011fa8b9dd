"""Where ticks come from: sources, the wire format, and the Kafka producer side."""
