"""The story classifier: features, model, training and evaluation, and its training data."""
