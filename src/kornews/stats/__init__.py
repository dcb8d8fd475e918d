"""Numbers on probabilities that need no encoder: metrics, confidence (calibration), transfer (a target's topic mix, label spreading, pseudo-labels), the TF-IDF model and its fusions."""
