"""Small helpers shared by the test modules (fixtures live in conftest.py)."""
import re

KNEWS_CSV = ("id,title,cleanBody,category\n"
             "0007,정부 예산안 발표,\"국회에서 예산안을, 발표했다.\",politics\n"
             "0008,주가 상승, 코스피가 올랐다 ,economy\n")


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def err(message):
    """pytest.raises match for an exact whole message."""
    return "^" + re.escape(message) + "$"


def interrupt_training(monkeypatch):
    """The next training stops in its first epoch, as Ctrl-C would stop it; returns what undoes that."""
    from kornews.training import loop
    real = loop._train_epoch

    def killed(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(loop, "_train_epoch", killed)
    return lambda: monkeypatch.setattr(loop, "_train_epoch", real)
