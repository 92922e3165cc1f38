"""What both test trees share, so that neither imports from the other.

- `testing.streams`: the streams the connector must offer, their primary keys, a configured catalog.
- `testing.records`: records as the ChartMogul API serves them, recorded from the live API.
- `testing.messages`: what a stream's read gives, made comparable (`flat`).
- `testing.configs`: the test API keys, configs, the config mistakes and their messages, and a
  check for a leaked key.

Nothing here imports `source_chartmogul`: what the tests expect is written out on its own,
not computed by the code under test.
"""
