"""kornews: fine-tune transformer encoders to classify Korean news by topic."""
from kornews.core.version import __version__

__all__ = ["Classifier", "__version__"]


def __getattr__(name):
    # Lazy, so `import kornews` (and `kornews --help`) never pays for torch.
    if name == "Classifier":
        from kornews.inference.classifier import Classifier
        return Classifier
    raise AttributeError(name)
