"""kornews: fine-tune transformer encoders to classify Korean news by topic."""
__version__ = "0.1.0"


def __getattr__(name):
    # Lazy, so `import kornews` (and `kornews --help`) never pays for torch.
    if name == "Classifier":
        from .predict import Classifier
        return Classifier
    raise AttributeError(name)
