"""Encoders and their inputs: the built-in backbones, tokenising, features, the classifier's build/save/load and forward, sentence embeddings and clusters, topic descriptions."""
