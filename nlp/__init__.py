"""NLP: pure functions from text to labels — term matching, fingerprints, (later) sentiment.

No database, no network, no files outside `nlp/models/`: everything here takes strings and
returns plain values, so it can be tested on its own and reused by any stage.
"""
