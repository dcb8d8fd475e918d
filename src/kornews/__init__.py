"""kornews: fine-tune transformer encoders to classify Korean news by topic."""
from .version import __version__  # noqa: F401


def __getattr__(name):
    # Lazy, so `import kornews` (and `kornews --help`) never pays for torch.
    if name == "Classifier":
        from .classifier import Classifier
        return Classifier
    raise AttributeError(name)
