"""The limitwatch terminal app, its command line and the consumer worker."""
