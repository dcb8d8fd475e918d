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
